package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lapps/lapps/notifier"
)

// mode is how the receiver answers.
type mode int

const (
	answerOK  mode = iota // 204
	answer500             // 500
	hang                  // never, until the client goes away
)

// hit is one request the receiver got.
type hit struct {
	ID        string // webhook-id
	Timestamp string // webhook-timestamp
	Signature string // webhook-signature
	Attempt   string // X-Lapps-Attempt
	Event     string // X-Lapps-Event
	// SignatureErr is what notifier.Verify said of the signature, with
	// the receiver's clock at arrival and the default tolerance.
	SignatureErr error
	Body         []byte
	Payload      notifier.Payload
	ParseErr     error
	// Status is what the receiver answered; 0 when the client went away
	// while the receiver hung.
	Status int
}

// receiver is a webhook receiver on 127.0.0.1 that records every request,
// and can be told to fail, to hang, or to go down and come back on the
// same address.
type receiver struct {
	t      *testing.T
	secret string
	addr   string

	mu   sync.Mutex
	mode mode
	hits []hit
	srv  *http.Server
	// hung gets the delivery id of each request the receiver hangs on.
	hung chan string
}

func startReceiver(t *testing.T, secret string) *receiver {
	t.Helper()
	r := &receiver{t: t, secret: secret, hung: make(chan string, 64)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	t.Cleanup(r.down)
	return r
}

func (r *receiver) url() string { return "http://" + r.addr + "/hook" }

func (r *receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 5 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.t.Errorf("receiver: %v", err)
		}
	}()
}

// down closes the listener and every connection: deliveries are refused.
func (r *receiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// up listens again on the same address.
func (r *receiver) up() {
	r.t.Helper()
	var ln net.Listener
	waitFor(r.t, 10*time.Second, "the receiver's address to be free", func() (bool, string) {
		var err error
		ln, err = net.Listen("tcp", r.addr)
		return err == nil, errString(err)
	})
	r.serve(ln)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (r *receiver) setMode(m mode) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mode = m
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 16<<20))
	h := hit{
		ID:           req.Header.Get(notifier.HeaderID),
		Timestamp:    req.Header.Get(notifier.HeaderTimestamp),
		Signature:    req.Header.Get(notifier.HeaderSignature),
		Attempt:      req.Header.Get(notifier.HeaderAttempt),
		Event:        req.Header.Get(notifier.HeaderEvent),
		SignatureErr: notifier.Verify(r.secret, req.Header, body, time.Now(), 0),
		Body:         body,
	}
	if err == nil {
		err = json.Unmarshal(body, &h.Payload)
	}
	h.ParseErr = err
	r.mu.Lock()
	m := r.mode
	r.mu.Unlock()
	switch m {
	case answerOK:
		h.Status = http.StatusNoContent
	case answer500:
		h.Status = http.StatusInternalServerError
	case hang:
		r.hung <- h.ID
		<-req.Context().Done()
	}
	r.mu.Lock()
	r.hits = append(r.hits, h)
	r.mu.Unlock()
	if h.Status != 0 {
		w.WriteHeader(h.Status)
	}
}

// all returns every request answered or abandoned so far.
func (r *receiver) all() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

// accepted returns the requests answered with a 2xx status.
func (r *receiver) accepted() []hit {
	var out []hit
	for _, h := range r.all() {
		if h.Status/100 == 2 {
			out = append(out, h)
		}
	}
	return out
}

// failedAttempts returns how many requests the receiver answered with
// 500.
func (r *receiver) failedAttempts() int {
	n := 0
	for _, h := range r.all() {
		if h.Status == http.StatusInternalServerError {
			n++
		}
	}
	return n
}

// key is what a notification is about.
type key struct{ manifest, vuln, action string }

// received is one notification entry as the receiver got it.
type received struct {
	notifier.Notification
	DeliveryID string
}

// notifications returns the entries of the accepted deliveries, a
// delivery id accepted twice counted once (as a receiver that
// de-duplicates does), and fails the test on a delivery that is not
// well-formed: bad signature, unparsable body, header and payload ids
// that differ, or another event.
func (r *receiver) notifications(t *testing.T) []received {
	t.Helper()
	seen := map[string]bool{}
	var out []received
	for _, h := range r.accepted() {
		checkHit(t, h)
		if seen[h.ID] {
			continue
		}
		seen[h.ID] = true
		for _, n := range h.Payload.Notifications {
			out = append(out, received{Notification: n, DeliveryID: h.ID})
		}
	}
	return out
}

// checkHit fails the test on a request that is not a well-formed, signed
// vulnerability delivery.
func checkHit(t *testing.T, h hit) {
	t.Helper()
	switch {
	case h.SignatureErr != nil:
		t.Errorf("delivery %s: signature: %v", h.ID, h.SignatureErr)
	case h.ParseErr != nil:
		t.Errorf("delivery %s: body: %v\n%s", h.ID, h.ParseErr, h.Body)
	case h.ID == "" || h.ID != h.Payload.DeliveryID:
		t.Errorf("delivery id: header %q, payload %q", h.ID, h.Payload.DeliveryID)
	case h.Event != "vulnerability":
		t.Errorf("delivery %s: event %q, want vulnerability", h.ID, h.Event)
	case h.Payload.Webhook != "e2e" || h.Payload.Source != source || h.Payload.Operation <= 0:
		t.Errorf("delivery %s: webhook %q, source %q, operation %d", h.ID, h.Payload.Webhook, h.Payload.Source, h.Payload.Operation)
	case h.Payload.Page < 1 || h.Payload.Page > h.Payload.Pages:
		t.Errorf("delivery %s: page %d of %d", h.ID, h.Payload.Page, h.Payload.Pages)
	}
	if a, err := strconv.Atoi(h.Attempt); err != nil || a < 1 {
		t.Errorf("delivery %s: attempt header %q", h.ID, h.Attempt)
	}
}

// checkUnique fails the test when two different delivery ids carry the
// same (manifest, vulnerability, action): a receiver de-duplicating by
// id would see that notification twice.
func checkUnique(t *testing.T, got []received) {
	t.Helper()
	by := map[key]string{}
	for _, n := range got {
		k := key{n.ManifestDigest, n.Vulnerability.ID, n.Action}
		if id, ok := by[k]; ok && id != n.DeliveryID {
			t.Errorf("%v delivered under two ids: %s and %s", k, id, n.DeliveryID)
		}
		by[k] = n.DeliveryID
	}
}
