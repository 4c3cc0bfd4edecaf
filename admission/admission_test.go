package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/vuln"
)

// reviewOf builds the AdmissionReview the API server sends for a CREATE of
// obj, with k8s.io/api's types.
func reviewOf(t testing.TB, uid string, gvk metav1.GroupVersionKind, resource string, obj runtime.Object, ns, name string) []byte {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	rv := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID(uid),
			Kind:      gvk,
			Resource:  metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: resource},
			Name:      name,
			Namespace: ns,
			Operation: admissionv1.Create,
			UserInfo:  authenticationv1.UserInfo{Username: "system:serviceaccount:kube-system:replicaset-controller", UID: "3c0f1d6e-2b1a-4c55-9a0e-4d3a2f1b0c9d", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}},
			Object:    runtime.RawExtension{Raw: raw},
			Options:   runtime.RawExtension{Raw: []byte(`{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}`)},
		},
	}
	b, err := json.Marshal(rv)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pod(name string, images ...string) *corev1.Pod {
	p := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}}
	for i, im := range images {
		c := corev1.Container{Name: fmt.Sprintf("c%d", i), Image: im}
		if i == 0 && len(images) > 1 {
			p.Spec.InitContainers = append(p.Spec.InitContainers, c)
			continue
		}
		p.Spec.Containers = append(p.Spec.Containers, c)
	}
	return p
}

var (
	podGVK    = metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}
	deployGVK = metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	cronGVK   = metav1.GroupVersionKind{Group: "batch", Version: "v1", Kind: "CronJob"}
)

// verdicts: what the store would hold, by image.
var verdicts = map[string]*policy.Verdict{
	"registry.example.com/alma:9.3": {Result: policy.Fail, Causes: []policy.FindingRef{
		{ID: "ALSA-2024:3339", Package: "glibc", InstalledVersion: "2.34-83.el9_3.7", Severity: vuln.SeverityHigh},
		{ID: "CVE-2026-4878", Package: "libcap", InstalledVersion: "2.48-9.el9_2", Severity: vuln.SeverityHigh},
	}},
	"registry.example.com/debian:mid": {Result: policy.Warn, Causes: []policy.FindingRef{{ID: "CVE-2021-38561", Package: "golang.org/x/text", InstalledVersion: "v0.3.5", Severity: vuln.SeverityUnknown}}},
	"registry.example.com/debian:min": {Result: policy.Pass},
	"registry.example.com/old:1":      {Result: policy.Fail, Reasons: []string{"report matched 240h0m0s ago (2026-11-13T12:00:00Z), more than max_report_age 7d"}},
}

func lookupMap(_ context.Context, image string) (*policy.Verdict, bool, error) {
	if image == "registry.example.com/broken:1" {
		return nil, false, errors.New("store: database is locked")
	}
	v, ok := verdicts[image]
	return v, ok, nil
}

func decode(t *testing.T, b []byte) admissionv1.AdmissionReview {
	t.Helper()
	var rv admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &rv); err != nil {
		t.Fatalf("response %s: %v", b, err)
	}
	if rv.APIVersion != "admission.k8s.io/v1" || rv.Kind != "AdmissionReview" || rv.Response == nil {
		t.Fatalf("response %s", b)
	}
	return rv
}

func TestDecide(t *testing.T) {
	deploy := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{Template: tmpl("registry.example.com/debian:min", "registry.example.com/alma:9.3")}}
	cron := &batchv1.CronJob{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"}, ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "shop"},
		Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl("registry.example.com/debian:mid")}}}}
	tests := []struct {
		name     string
		review   []byte
		failOpen bool
		allowed  bool
		code     int32
		message  []string // substrings of the denial
		warnings []string // substrings of the warnings, joined
	}{
		{name: "passing pod", review: reviewOf(t, "u1", podGVK, "pods", pod("p", "registry.example.com/debian:min"), "shop", "p"), allowed: true},
		{name: "failing pod", review: reviewOf(t, "u2", podGVK, "pods", pod("p", "registry.example.com/debian:min", "registry.example.com/alma:9.3"), "shop", "p"),
			code: 403, message: []string{"lapps denied Pod shop/p", "image registry.example.com/alma:9.3 fails policy", "ALSA-2024:3339 (high) in glibc 2.34-83.el9_3.7", "CVE-2026-4878 (high) in libcap"}},
		{name: "failing deployment (init container)", review: reviewOf(t, "u3", deployGVK, "deployments", deploy, "shop", "web"),
			code: 403, message: []string{"lapps denied Deployment shop/web", "registry.example.com/alma:9.3 fails policy"}},
		{name: "warning cronjob", review: reviewOf(t, "u4", cronGVK, "cronjobs", cron, "shop", "nightly"), allowed: true,
			warnings: []string{"image registry.example.com/debian:mid warns: CVE-2021-38561 (unknown) in golang.org/x/text"}},
		{name: "stale report", review: reviewOf(t, "u5", podGVK, "pods", pod("p", "registry.example.com/old:1"), "shop", "p"),
			code: 403, message: []string{"registry.example.com/old:1 fails policy: report matched 240h0m0s ago"}},
		{name: "unscanned, fail closed", review: reviewOf(t, "u6", podGVK, "pods", pod("p", "registry.example.com/new:1"), "shop", "p"),
			code: 403, message: []string{"image registry.example.com/new:1 not scanned yet"}},
		{name: "unscanned, fail open", failOpen: true, review: reviewOf(t, "u7", podGVK, "pods", pod("p", "registry.example.com/new:1"), "shop", "p"), allowed: true,
			warnings: []string{"registry.example.com/new:1 not scanned yet (allowed: fail open)"}},
		{name: "fail open still denies a failing image", failOpen: true, review: reviewOf(t, "u8", podGVK, "pods", pod("p", "registry.example.com/new:1", "registry.example.com/alma:9.3"), "shop", "p"),
			code: 403, message: []string{"alma:9.3 fails policy"}, warnings: []string{"new:1 not scanned yet"}},
		{name: "lookup error, fail closed", review: reviewOf(t, "u9", podGVK, "pods", pod("p", "registry.example.com/broken:1"), "shop", "p"),
			code: 403, message: []string{"registry.example.com/broken:1 lookup failed: store: database is locked"}},
		{name: "not a workload", review: reviewOf(t, "u10", metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, "configmaps",
			&corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "c"}}, "shop", "c"), allowed: true},
		// Malformed requests, answered with a denial naming the problem.
		{name: "pod without image", review: reviewOf(t, "m1", podGVK, "pods", pod("p", ""), "shop", "p"), code: 400, message: []string{"cannot read the Pod shop/p", `container 0 ("c0") has no image`}},
		{name: "object not an object", review: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"m2","kind":{"version":"v1","kind":"Pod"},"operation":"CREATE","object":[1,2]}}`),
			code: 400, message: []string{"cannot read the Pod", "want a Kubernetes object"}},
		{name: "wrong version", review: []byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"m3","operation":"CREATE","object":{}}}`),
			code: 400, message: []string{`want an AdmissionReview admission.k8s.io/v1, got kind "AdmissionReview" apiVersion "admission.k8s.io/v1beta1"`}},
		{name: "no object", review: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"m4","kind":{"version":"v1","kind":"Pod"},"operation":"CREATE"}}`),
			code: 400, message: []string{"CREATE request for Pod without an object"}},
		{name: "bad field type", review: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"m5","operation":7}}`),
			code: 400, message: []string{"malformed AdmissionReview"}},
		{name: "delete", review: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"d1","operation":"DELETE","object":null}}`), allowed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Decide(context.Background(), tt.review, lookupMap, Options{FailOpen: tt.failOpen})
			if err != nil {
				t.Fatal(err)
			}
			rv := decode(t, out)
			var in struct {
				Request struct{ UID string } `json:"request"`
			}
			json.Unmarshal(tt.review, &in)
			if string(rv.Response.UID) != in.Request.UID {
				t.Errorf("uid %q, want %q", rv.Response.UID, in.Request.UID)
			}
			if rv.Response.Allowed != tt.allowed {
				t.Errorf("allowed %v, want %v: %s", rv.Response.Allowed, tt.allowed, out)
			}
			if !tt.allowed {
				if rv.Response.Result == nil || rv.Response.Result.Code != tt.code {
					t.Fatalf("status %+v, want code %d", rv.Response.Result, tt.code)
				}
				for _, m := range tt.message {
					if !strings.Contains(rv.Response.Result.Message, m) {
						t.Errorf("message %q lacks %q", rv.Response.Result.Message, m)
					}
				}
			}
			w := strings.Join(rv.Response.Warnings, "\n")
			for _, m := range tt.warnings {
				if !strings.Contains(w, m) {
					t.Errorf("warnings %q lack %q", w, m)
				}
			}
			if len(tt.warnings) == 0 && w != "" {
				t.Errorf("unexpected warnings %q", w)
			}
		})
	}
}

// TestDecideUnanswerable: without a readable uid there is nothing to
// answer, and Decide says why.
func TestDecideUnanswerable(t *testing.T) {
	for _, in := range []string{``, `{`, `[]`, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, `{"request":{"uid":""}}`, `{"request":{"uid":5}}`} {
		if out, err := Decide(context.Background(), []byte(in), lookupMap, Options{}); err == nil {
			t.Errorf("Decide(%q) = %s, want an error", in, out)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Decide(ctx, reviewOf(t, "c", podGVK, "pods", pod("p", "registry.example.com/debian:min"), "shop", "p"), lookupMap, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

// TestBounds: an object naming more than MaxImages distinct images is
// denied without any lookup, naming the bound; an image Check refuses
// denies the object even when fail open and is not looked up; long names
// are cut in messages; the summary counts it all.
func TestBounds(t *testing.T) {
	var lookups []string
	lookup := func(_ context.Context, image string) (*policy.Verdict, bool, error) {
		lookups = append(lookups, image)
		return nil, false, nil
	}
	many := pod("p")
	for i := range 300 {
		many.Spec.Containers = append(many.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: fmt.Sprintf("registry.example.com/i%d:1", i)})
	}
	out, sum, err := DecideSummary(context.Background(), reviewOf(t, "m", podGVK, "pods", many, "shop", "p"), lookup, Options{FailOpen: true})
	if err != nil || sum.Allowed || sum.Images != 300 || len(lookups) != 0 ||
		!strings.Contains(sum.Message, "names 300 distinct images") || !strings.Contains(sum.Message, "server.admission.max_images") {
		t.Errorf("300 images: %s %+v %v, %d lookups", out, sum, err, len(lookups))
	}
	long := "registry.example.com/" + strings.Repeat("x", 1000) + ":1"
	check := func(im string) error {
		if strings.HasPrefix(im, "dir:") {
			return errors.New("no local images")
		}
		return nil
	}
	out, sum, err = DecideSummary(context.Background(), reviewOf(t, "c", podGVK, "pods", pod("p", "dir:/etc", long), "shop", "p"), lookup, Options{FailOpen: true, Check: check})
	if err != nil || sum.Allowed || sum.Refused != 1 || sum.Warned != 1 || len(lookups) != 1 || lookups[0] != long ||
		!strings.Contains(sum.Message, "image dir:/etc refused: no local images") || strings.Contains(string(out), strings.Repeat("x", 300)) {
		t.Errorf("refused image: %s %+v %v, lookups %d", out, sum, err, len(lookups))
	}
}

func FuzzDecide(f *testing.F) {
	f.Add(reviewOf(f, "u2", podGVK, "pods", pod("p", "registry.example.com/debian:min", "registry.example.com/alma:9.3"), "shop", "p"))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"m2","kind":{"version":"v1","kind":"Pod"},"operation":"CREATE","object":[1,2]}}`))
	f.Add(reviewOf(f, "u3", podGVK, "pods", pod("p", "dir:/etc", "a", "b", "c"), "shop", "p"))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"d","kind":{"kind":"Deployment"},"operation":"UPDATE","object":{"kind":"Deployment","metadata":{"name":"d"},"spec":{"template":{"spec":{"containers":[{"image":"a"},{"image":"dir:/x"}]}}}}}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"o","operation":"CREATE","object":{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"image":"a"}]}},"object":{"kind":"Pod","metadata":{"name":"q"},"spec":{"initContainers":[{"image":"b"}]}}}}`))
	refuseLocal := func(im string) error {
		if strings.Contains(im, ":/") {
			return errors.New("local")
		}
		return nil
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, sum, err := DecideSummary(context.Background(), b, lookupMap, Options{MaxImages: 3, Check: refuseLocal})
		// The one-pass read decides as the two-pass read does.
		onePass = false
		out2, sum2, err2 := DecideSummary(context.Background(), b, lookupMap, Options{MaxImages: 3, Check: refuseLocal})
		onePass = true
		if (err == nil) != (err2 == nil) || !bytes.Equal(out, out2) || sum != sum2 {
			t.Fatalf("one pass: %s %+v %v; two: %s %+v %v", out, sum, err, out2, sum2, err2)
		}
		if err != nil {
			return
		}
		if sum.Allowed && (sum.Refused > 0 || sum.Images > 3) {
			t.Fatalf("allowed with %d refused images of %d: %s", sum.Refused, sum.Images, out)
		}
		var rv admissionv1.AdmissionReview
		if err := json.Unmarshal(out, &rv); err != nil || rv.Response == nil || rv.Response.UID == "" {
			t.Fatalf("response %s: %v", out, err)
		}
	})
}

// BenchmarkDecide: a pod with 5 containers whose images are scanned, with
// an in-memory lookup.
func BenchmarkDecide(b *testing.B) {
	p := pod("p")
	im := map[string]*policy.Verdict{}
	for i := range 5 {
		name := fmt.Sprintf("registry.example.com/svc%d@sha256:%064d", i, i)
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: name})
		im[name] = &policy.Verdict{Result: policy.Pass}
	}
	review := reviewOf(b, "bench", podGVK, "pods", p, "shop", "p")
	lookup := func(_ context.Context, image string) (*policy.Verdict, bool, error) {
		v, ok := im[image]
		return v, ok, nil
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err := Decide(context.Background(), review, lookup, Options{})
		if err != nil || !strings.Contains(string(out), `"allowed":true`) {
			b.Fatalf("%s %v", out, err)
		}
	}
}

// tmpl is the pod template of a workload with these images (the first an
// init container when there are several).
func tmpl(images ...string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: pod("", images...).Spec}
}

// TestDescribeOnce checks the remembered descriptions: each verdict and
// bound gets its own text, equal to describe's, and the memo forgets
// everything once it holds maxDescriptions of them.
func TestDescribeOnce(t *testing.T) {
	descriptions.Clear()
	maxDescriptions := int(descriptions.Max)
	var keep []*policy.Verdict // alive, so that no address is reused
	for i := range maxDescriptions + 10 {
		v := &policy.Verdict{Result: policy.Fail, Causes: []policy.FindingRef{
			{ID: fmt.Sprintf("CVE-2026-%d", i), Package: "p", InstalledVersion: "1", Severity: vuln.SeverityHigh},
			{ID: "CVE-2026-0", Package: "q", InstalledVersion: "2", Severity: vuln.SeverityLow}}}
		keep = append(keep, v)
		for _, max := range []int{1, 5} {
			if got, want := describeOnce(v, max), describe(v, max); got != want {
				t.Fatalf("verdict %d, max %d: %q, want %q", i, max, got, want)
			}
			if got, want := describeOnce(v, max), describe(v, max); got != want {
				t.Fatalf("verdict %d, max %d, remembered: %q, want %q", i, max, got, want)
			}
		}
		if n := descriptions.Len(); n > descriptions.Max {
			t.Fatalf("%d descriptions remembered, bound %d", n, maxDescriptions)
		}
	}
	if n := descriptions.Len(); n == 0 || n > descriptions.Max {
		t.Errorf("%d descriptions held, want 1..%d", n, maxDescriptions)
	}
	if len(keep) != maxDescriptions+10 {
		t.Fatal("verdicts lost")
	}
}
