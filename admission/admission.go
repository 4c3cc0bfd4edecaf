// Package admission answers Kubernetes validating admission webhook calls
// (AdmissionReview admission.k8s.io/v1) for pods and workload kinds: it
// denies an object when the policy verdict of one of its images is fail.
//
// The review is read into the few fields used here rather than
// k8s.io/api/admission/v1's types, which would bring apimachinery onto the
// server's request path for five fields; the tests build their requests
// with k8s.io/api's types, as the API server does.
package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
	"weak"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/lapps/lapps/internal/memo"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/workload"
)

// Lookup returns the stored verdict of an image; found is false when the
// image has not been scanned (the caller may queue it for scanning). It
// must not index or scan on the request path. A verdict it returns is
// never changed afterwards: Decide remembers its description.
type Lookup func(ctx context.Context, image string) (v *policy.Verdict, found bool, err error)

// Options tune Decide.
type Options struct {
	// FailOpen allows an object with an image not scanned yet, or whose
	// lookup failed; otherwise such an object is denied.
	FailOpen bool
	// MaxFindings is how many findings per image the denial message names
	// (default 5); the rest are counted.
	MaxFindings int
	// MaxImages is the most distinct images an object may name (default
	// DefaultMaxImages); an object naming more is denied without any
	// lookup.
	MaxImages int
	// MaxImagesKey is the configuration key that sets MaxImages, named
	// in the denial (default server.admission.max_images).
	MaxImagesKey string
	// Check, if set, is asked about each image before its lookup: an
	// image it refuses (a local transport, say) denies the object,
	// whatever FailOpen says, and is not looked up.
	Check func(image string) error
}

// DefaultMaxImages is Options.MaxImages unless set: a pod names a few
// dozen images at most.
const DefaultMaxImages = 256

// Summary says what a decision was, for one log line per review.
type Summary struct {
	UID       string
	Kind      string
	Object    string
	Operation string
	// Images is the number of distinct images the object names.
	Images int
	// Allowed is the decision.
	Allowed bool
	// Denied and Warned count the images behind denials and warnings.
	Denied, Warned int
	// Refused counts the images Check refused.
	Refused int
	// Message is the denial's message (empty when allowed).
	Message string
}

// review is the part of an AdmissionReview read here.
type review struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Request    *request `json:"request"`
}

type request struct {
	UID  string `json:"uid"`
	Kind struct {
		Group   string `json:"group"`
		Version string `json:"version"`
		Kind    string `json:"kind"`
	} `json:"kind"`
	Namespace string          `json:"namespace"`
	Name      string          `json:"name"`
	Operation string          `json:"operation"`
	Object    json.RawMessage `json:"object"`
}

// Response is the AdmissionReview response Decide writes.
type Response struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Response   ResponseDetails `json:"response"`
}

// ResponseDetails is an AdmissionResponse.
type ResponseDetails struct {
	UID      string   `json:"uid"`
	Allowed  bool     `json:"allowed"`
	Status   *Status  `json:"status,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// Status is the metav1.Status of a denial.
type Status struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Reason  string `json:"reason,omitempty"`
}

const apiVersion = "admission.k8s.io/v1"

// Decide answers the AdmissionReview review: it reads the object's images
// (package workload), looks each distinct image up and denies the object
// (HTTP 403 in the status, message naming the images and their findings)
// when any verdict is fail; an image not found, or whose lookup fails, is
// "not scanned yet" (or "lookup failed") and allowed or denied by
// opts.FailOpen. Warn verdicts and allowed unscanned images become
// response warnings. The response carries the request's uid. A review that
// is not valid JSON, or has no request uid, is an error (there is nothing
// to answer); any other malformed review is denied with a message saying
// what is wrong. Lookup errors become part of the decision; only a
// canceled ctx is returned as an error.
func Decide(ctx context.Context, data []byte, lookup Lookup, opts Options) ([]byte, error) {
	out, _, err := DecideSummary(ctx, data, lookup, opts)
	return out, err
}

// DecideSummary is Decide, with a summary of the decision.
func DecideSummary(ctx context.Context, data []byte, lookup Lookup, opts Options) ([]byte, Summary, error) {
	var sum Summary
	out, err := decide(ctx, data, lookup, opts, &sum)
	return out, sum, err
}

func decide(ctx context.Context, data []byte, lookup Lookup, opts Options, sum *Summary) ([]byte, error) {
	var rv review
	// The API server's reviews are read in one pass, the object with
	// them (fastReview); anything that pass does not take is read again
	// as before, whose errors say what is wrong.
	var images []string
	fast := false
	if onePass {
		images, fast = readFast(data, &rv)
	}
	var err error
	if !fast {
		err = json.Unmarshal(data, &rv)
	}
	if err != nil {
		// The uid may still be readable when only the object is bad.
		var probe struct {
			Request struct {
				UID string `json:"uid"`
			} `json:"request"`
		}
		if json.Unmarshal(data, &probe) != nil || probe.Request.UID == "" {
			return nil, fmt.Errorf("admission review: %w", err)
		}
		return sum.deny(probe.Request.UID, http.StatusBadRequest, "lapps: malformed AdmissionReview: "+err.Error())
	}
	if rv.Request == nil || rv.Request.UID == "" {
		return nil, errors.New("admission review: no request uid")
	}
	req := rv.Request
	sum.UID, sum.Kind, sum.Object, sum.Operation = req.UID, req.Kind.Kind, objName(req), req.Operation
	if rv.APIVersion != apiVersion || rv.Kind != "AdmissionReview" {
		return sum.deny(req.UID, http.StatusBadRequest, fmt.Sprintf("lapps: want an AdmissionReview %s, got kind %q apiVersion %q", apiVersion, rv.Kind, rv.APIVersion))
	}
	switch req.Operation {
	case "DELETE", "CONNECT":
		return sum.allow(req.UID, nil)
	}
	if !fast {
		if len(req.Object) == 0 || string(req.Object) == "null" {
			return sum.deny(req.UID, http.StatusBadRequest, fmt.Sprintf("lapps: %s request for %s without an object", req.Operation, req.Kind.Kind))
		}
		if images, err = objectImages(req.Object); err != nil {
			return sum.deny(req.UID, http.StatusBadRequest, fmt.Sprintf("lapps: cannot read the %s %s: %v", req.Kind.Kind, objName(req), err))
		}
	}
	sum.Images = len(images)
	maxImages, key := opts.MaxImages, opts.MaxImagesKey
	if maxImages <= 0 {
		maxImages = DefaultMaxImages
	}
	if key == "" {
		key = "server.admission.max_images"
	}
	if len(images) > maxImages {
		bound := limits.New("images of one object", int64(maxImages), "distinct images", key)
		return sum.deny(req.UID, http.StatusBadRequest, fmt.Sprintf("lapps: the %s %s names %d distinct images: %v", req.Kind.Kind, objName(req), len(images), bound))
	}
	maxF := opts.MaxFindings
	if maxF <= 0 {
		maxF = 5
	}
	var denials, warnings []string
	for _, im := range images {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if opts.Check != nil {
			if err := opts.Check(im); err != nil {
				sum.Refused++
				sum.Denied++
				denials = append(denials, fmt.Sprintf("image %s refused: %v", show(im), err))
				continue
			}
		}
		v, found, err := lookup(ctx, im)
		switch {
		case err != nil || !found || v == nil:
			why := "not scanned yet"
			if err != nil {
				why = "lookup failed: " + err.Error()
			}
			if opts.FailOpen {
				sum.Warned++
				warnings = append(warnings, fmt.Sprintf("lapps: image %s %s (allowed: fail open)", show(im), why))
			} else {
				sum.Denied++
				denials = append(denials, fmt.Sprintf("image %s %s", show(im), why))
			}
		case v.Result == policy.Fail:
			sum.Denied++
			denials = append(denials, fmt.Sprintf("image %s fails policy: %s", show(im), describeOnce(v, maxF)))
		case v.Result == policy.Warn:
			sum.Warned++
			warnings = append(warnings, fmt.Sprintf("lapps: image %s warns: %s", show(im), describeOnce(v, maxF)))
		}
	}
	if len(denials) > 0 {
		msg := fmt.Sprintf("lapps denied %s %s: %s", req.Kind.Kind, objName(req), strings.Join(denials, "; "))
		return sum.respond(ResponseDetails{UID: req.UID, Status: &Status{Code: http.StatusForbidden, Message: msg, Reason: "Forbidden"}, Warnings: warnings})
	}
	return sum.allow(req.UID, warnings)
}

// describeKey identifies a verdict (weakly: a verdict no longer used is
// not kept alive by the memo, nor confused with one made later at its
// address) and the bound of one description.
type describeKey struct {
	v   weak.Pointer[policy.Verdict]
	max int
}

// descriptions remembers describe's text by verdict: the server answers
// reviews from the verdicts it caches, the same few for many reviews, and
// writing the text out again was a seventh of the decision's time.
var descriptions = memo.Map[describeKey, string]{Max: 4096}

// describeOnce is describe, remembered per verdict: a verdict that
// lookup returned is never changed afterwards (Lookup's contract).
func describeOnce(v *policy.Verdict, max int) string {
	k := describeKey{weak.Make(v), max}
	if s, ok := descriptions.Load(k); ok {
		return s
	}
	s := describe(v, max)
	descriptions.Store(k, s)
	return s
}

// describe names the verdict's causes, at most max of them, or its reasons.
func describe(v *policy.Verdict, max int) string {
	var parts []string
	for i, c := range v.Causes {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(v.Causes)-max))
			break
		}
		parts = append(parts, c.String())
	}
	s := strings.Join(parts, ", ")
	// Reasons that are not about the counted findings (report age).
	for _, r := range v.Reasons {
		if strings.Contains(r, "max_report_age") || len(v.Causes) == 0 {
			s = strings.TrimPrefix(s+"; "+r, "; ")
		}
	}
	if s == "" {
		s = v.Result
	}
	return s
}

// maxShown bounds an image name in a message: an object may name long
// ones, and the answer goes back to the API server.
const maxShown = 256

// show returns im for a message, cut at maxShown bytes.
func show(im string) string {
	if len(im) <= maxShown {
		return im
	}
	cut := maxShown
	for cut > 0 && !utf8.RuneStart(im[cut]) {
		cut--
	}
	return im[:cut] + "…"
}

func objName(req *request) string {
	if req.Namespace != "" {
		return show(req.Namespace + "/" + req.Name)
	}
	return show(req.Name)
}

func (s *Summary) allow(uid string, warnings []string) ([]byte, error) {
	return s.respond(ResponseDetails{UID: uid, Allowed: true, Warnings: warnings})
}

// deny answers a malformed request.
func (s *Summary) deny(uid string, code int, msg string) ([]byte, error) {
	return s.respond(ResponseDetails{UID: uid, Status: &Status{Code: code, Message: msg, Reason: "BadRequest"}})
}

// respond encodes the response d and notes the decision in s (rather
// than decoding the response again).
func (s *Summary) respond(d ResponseDetails) ([]byte, error) {
	s.Allowed = d.Allowed
	if d.Status != nil {
		s.Message = d.Status.Message
	}
	return respond(d)
}

func respond(d ResponseDetails) ([]byte, error) {
	b, err := json.Marshal(Response{APIVersion: apiVersion, Kind: "AdmissionReview", Response: d})
	if err != nil {
		return nil, fmt.Errorf("admission response: %w", err)
	}
	return b, nil
}

// objectImages returns the distinct images of obj, in the order of
// workload.ParseObject. A JSON object of a pod or workload kind, which is
// what the API server sends, is read with encoding/json: workload's YAML
// parser took most of a decision's time. Anything else, and any object the
// fast path would have to refuse, goes through workload.ParseObject, whose
// errors say what is wrong.
func objectImages(obj json.RawMessage) ([]string, error) {
	if images, ok := fastImages(obj); ok {
		return images, nil
	}
	ws, err := workload.ParseObject(obj)
	if err != nil {
		return nil, err
	}
	var images []string
	seen := map[string]bool{}
	for _, w := range ws {
		for _, im := range w.Images() {
			if !seen[im] {
				seen[im] = true
				images = append(images, im)
			}
		}
	}
	return images, nil
}

// jsonObject is the part of a pod or workload read by fastImages.
type jsonObject struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name         string `json:"name"`
		GenerateName string `json:"generateName"`
	} `json:"metadata"`
	Spec struct {
		jsonPodSpec
		Template *struct {
			Spec jsonPodSpec `json:"spec"`
		} `json:"template"`
		JobTemplate *struct {
			Spec struct {
				Template *struct {
					Spec jsonPodSpec `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		} `json:"jobTemplate"`
	} `json:"spec"`
}

type jsonPodSpec struct {
	InitContainers      []jsonContainer `json:"initContainers"`
	Containers          []jsonContainer `json:"containers"`
	EphemeralContainers []jsonContainer `json:"ephemeralContainers"`
}

type jsonContainer struct {
	Image string `json:"image"`
}

// fastImages reads the images of a well-formed JSON pod or workload; ok is
// false for anything it does not handle or would refuse.
func fastImages(obj json.RawMessage) (images []string, ok bool) {
	if len(obj) == 0 || obj[0] != '{' {
		return nil, false
	}
	var o jsonObject
	if err := json.Unmarshal(obj, &o); err != nil {
		return nil, false
	}
	return o.images()
}

// v1Semantics are the options under which the JSON v2 implementation
// (go-json-experiment/json, the prototype of Go's encoding/json/v2)
// decodes as encoding/json does: names matched in any case, a name given
// twice merged, invalid UTF-8 replaced. It reads a review in half the
// time encoding/json takes, which was a sixth of the CPU of an admission
// review over TLS (BenchmarkAdmission); FuzzDecide checks that the
// one-pass read decides as the two-pass read, which uses encoding/json.
var v1Semantics = jsonv1.DefaultOptionsV1()

// onePass enables readFast; tests turn it off to compare.
var onePass = true

// fastReview is a review read in one pass with its object as fastImages
// reads it: the object is then neither copied nor scanned again. The
// outer Object field hides the embedded request's.
type fastReview struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Request    *struct {
		request
		Object *jsonObject `json:"object"`
	} `json:"request"`
}

// readFast reads a review whose object fastImages would take, in one
// pass, into rv (without its object) and returns the object's images;
// ok is false for anything else, and rv is then untouched.
func readFast(data []byte, rv *review) (images []string, ok bool) {
	// A key given twice is decoded twice into the same object, merging
	// them, where the two-pass read keeps the last object whole: reviews
	// that might name the object twice take the two-pass read.
	if !oneObjectKey(data) {
		return nil, false
	}
	var fr fastReview
	if jsonv2.Unmarshal(data, &fr, v1Semantics) != nil || fr.Request == nil || fr.Request.Object == nil {
		return nil, false
	}
	switch fr.Request.Operation {
	case "DELETE", "CONNECT":
		return nil, false
	}
	if images, ok = fr.Request.Object.images(); !ok {
		return nil, false
	}
	*rv = review{APIVersion: fr.APIVersion, Kind: fr.Kind, Request: &fr.Request.request}
	return images, true
}

// oneObjectKey reports whether "object" (as encoding/json matches keys:
// in any case) is quoted exactly once in data, and no \u escape (which
// could spell it otherwise) is there.
func oneObjectKey(data []byte) bool {
	if bytes.Contains(data, []byte(`\u`)) {
		return false
	}
	n := 0
	for i := 0; ; {
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			return n == 1
		}
		i += j + 1
		if len(data)-i >= 7 && data[i+6] == '"' && bytes.EqualFold(data[i:i+6], []byte("object")) {
			if n++; n > 1 {
				return false
			}
		}
	}
}

// images returns the distinct images of a pod or workload, init
// containers first; ok is false for anything fastImages does not handle
// or would refuse.
func (o *jsonObject) images() (images []string, ok bool) {
	if o.Metadata.Name == "" && o.Metadata.GenerateName == "" {
		return nil, false
	}
	var spec *jsonPodSpec
	switch o.Kind {
	case "Pod":
		spec = &o.Spec.jsonPodSpec
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job":
		if o.Spec.Template == nil {
			return nil, false
		}
		spec = &o.Spec.Template.Spec
	case "CronJob":
		if o.Spec.JobTemplate == nil || o.Spec.JobTemplate.Spec.Template == nil {
			return nil, false
		}
		spec = &o.Spec.JobTemplate.Spec.Template.Spec
	default:
		return nil, false
	}
	if len(spec.Containers) == 0 {
		return nil, false
	}
	seen := map[string]bool{}
	for _, cs := range [][]jsonContainer{spec.InitContainers, spec.Containers, spec.EphemeralContainers} {
		for _, c := range cs {
			if strings.TrimSpace(c.Image) == "" {
				return nil, false
			}
			if !seen[c.Image] {
				seen[c.Image] = true
				images = append(images, c.Image)
			}
		}
	}
	return images, true
}
