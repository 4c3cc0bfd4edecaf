package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/server/harbor"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
)

// Harbor's scanner adapter is served under /harbor (Harbor registers the
// scanner as http://HOST:6060/harbor): package server/harbor speaks the
// API, this file gives it the job queue.

// WithCredentialKey sets the key that seals the registry credentials a
// caller sends with a scan (Harbor's) while its job waits in the queue
// (server.harbor.credentials_key). Replicas sharing a database need the
// same key to run each other's Harbor scans; without it, each replica
// seals with a random key of its own, held in memory only, and a Harbor
// scan claimed by another replica (or after a restart) fails with a
// message that says so.
func WithCredentialKey(key []byte) Option {
	return func(s *Server) {
		if len(key) > 0 {
			s.credKey = append([]byte(nil), key...)
		}
	}
}

// WithVersion sets the version the server reports as a scanner (Harbor's
// metadata; default "dev").
func WithVersion(v string) Option { return func(s *Server) { s.version = v } }

// sealer seals registry credentials into a scan job's request with
// AES-256-GCM, bound to the job's id: the database holds only the sealed
// form, useless without the key, which is never stored (see
// WithCredentialKey). A sealed credential lives as long as its job
// (server.gc.job_ttl after it finished).
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) *sealer {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	k := sha256.Sum256(key)
	block, err := aes.NewCipher(k[:])
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &sealer{aead: aead}
}

func (s *sealer) seal(jobID string, creds map[string]image.Credential) ([]byte, error) {
	plain, err := json.Marshal(creds)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plain, []byte(jobID)), nil
}

// errSealed is the failure of a job whose credentials cannot be opened.
var errSealed = errors.New("the registry credentials of this scan were sealed by another replica, or by this one before it restarted, and cannot be opened here: give every replica the same server.harbor.credentials_key; the scan must be requested again")

func (s *sealer) open(jobID string, sealed []byte) (map[string]image.Credential, error) {
	if s == nil || len(sealed) < s.aead.NonceSize() {
		return nil, errSealed
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(jobID))
	if err != nil {
		return nil, errSealed
	}
	var creds map[string]image.Credential
	if err := json.Unmarshal(plain, &creds); err != nil {
		return nil, fmt.Errorf("sealed registry credentials: %w", err)
	}
	return creds, nil
}

// harborBackend is the server's job queue as Harbor's adapter needs it.
type harborBackend struct{ s *Server }

// Enqueue implements harbor.Backend.
func (b harborBackend) Enqueue(ctx context.Context, sc harbor.Scan) (string, error) {
	if err := b.s.checkImage(sc.Image); err != nil {
		return "", err
	}
	id := newID()
	req := scanJob{Image: sc.Image, Meta: sc.Meta}
	if len(sc.Credentials) > 0 {
		sealed, err := b.s.jobs.sealer.seal(id, sc.Credentials)
		if err != nil {
			return "", fmt.Errorf("seal registry credentials: %w", err)
		}
		req.SealedCredentials = sealed
	}
	job, err := b.s.jobs.enqueue(ctx, id, req)
	if err != nil {
		return "", err
	}
	return job.ID, nil
}

// Status implements harbor.Backend.
func (b harborBackend) Status(ctx context.Context, id string) (*harbor.Status, error) {
	if store.CheckJobID(id) != nil {
		return nil, harbor.ErrNotFound
	}
	sj, err := b.s.jobs.q.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, harbor.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var req scanJob
	if err := json.Unmarshal(sj.Request, &req); err != nil || sj.Kind != kindScan || len(req.Meta) == 0 {
		// Not a job Harbor queued.
		return nil, harbor.ErrNotFound
	}
	job, err := b.s.jobs.apiJob(ctx, sj)
	if err != nil {
		return nil, err
	}
	st := &harbor.Status{State: job.State, Meta: req.Meta, Report: job.Result}
	if job.Error != nil {
		st.Code, st.Message = job.Error.Code, job.Error.Message
	}
	return st, nil
}

// VulnDBStatus implements harbor.Backend.
func (b harborBackend) VulnDBStatus(ctx context.Context) ([]service.SourceStatus, error) {
	return b.s.svc.VulnDBStatus(ctx)
}

func (s *Server) harborMetadata(w http.ResponseWriter, r *http.Request) {
	s.harbor.Metadata(w, r)
}

func (s *Server) harborScan(w http.ResponseWriter, r *http.Request) {
	s.harbor.AcceptScan(w, r)
}

func (s *Server) harborReport(w http.ResponseWriter, r *http.Request) {
	s.harbor.Report(w, r, r.PathValue("id"))
}
