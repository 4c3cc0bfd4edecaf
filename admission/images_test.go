package admission

import (
	"encoding/json"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lapps/lapps/workload"
)

// parsedImages is what workload.ParseObject gives, the reference of the
// fast path.
func parsedImages(obj []byte) ([]string, error) {
	ws, err := workload.ParseObject(obj)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, w := range ws {
		for _, im := range w.Images() {
			if !slices.Contains(out, im) {
				out = append(out, im)
			}
		}
	}
	return out, nil
}

// TestFastImages checks that the JSON fast path reads the same images as
// workload.ParseObject for the objects the API server sends, and leaves
// everything it would refuse (and kinds it does not know) to
// workload.ParseObject.
func TestFastImages(t *testing.T) {
	withEphemeral := pod("dbg", "registry.example.com/init:1", "registry.example.com/app:1", "registry.example.com/app:1")
	withEphemeral.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox:1.36"}}}
	meta := func(kind, api string) (metav1.TypeMeta, metav1.ObjectMeta) {
		return metav1.TypeMeta{Kind: kind, APIVersion: api}, metav1.ObjectMeta{Name: "w", Namespace: "shop"}
	}
	tm, om := meta("StatefulSet", "apps/v1")
	sts := &appsv1.StatefulSet{TypeMeta: tm, ObjectMeta: om, Spec: appsv1.StatefulSetSpec{Template: tmpl("a:1", "b:2")}}
	tm, om = meta("DaemonSet", "apps/v1")
	ds := &appsv1.DaemonSet{TypeMeta: tm, ObjectMeta: om, Spec: appsv1.DaemonSetSpec{Template: tmpl("c:3")}}
	tm, om = meta("ReplicaSet", "apps/v1")
	rs := &appsv1.ReplicaSet{TypeMeta: tm, ObjectMeta: om, Spec: appsv1.ReplicaSetSpec{Template: tmpl("d:4", "e:5", "f:6")}}
	tm, om = meta("Job", "batch/v1")
	job := &batchv1.Job{TypeMeta: tm, ObjectMeta: om, Spec: batchv1.JobSpec{Template: tmpl("g:7")}}
	tm, om = meta("CronJob", "batch/v1")
	cron := &batchv1.CronJob{TypeMeta: tm, ObjectMeta: om, Spec: batchv1.CronJobSpec{Schedule: "@daily", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl("h:8", "i:9")}}}}
	tm, om = meta("Deployment", "apps/v1")
	dep := &appsv1.Deployment{TypeMeta: tm, ObjectMeta: om, Spec: appsv1.DeploymentSpec{Template: tmpl("j:10")}}
	var fast [][]byte
	for _, o := range []any{withEphemeral, sts, ds, rs, job, cron, dep} {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		fast = append(fast, b)
	}
	for _, b := range fast {
		got, ok := fastImages(b)
		want, err := parsedImages(b)
		if !ok || err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: fast %q %v, workload %q %v", b, got, ok, want, err)
		}
	}
	for _, b := range []string{
		`{"kind":"Pod","metadata":{},"spec":{"containers":[{"image":"a"}]}}`,
		`{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[]}}`,
		`{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"x","image":" "}]}}`,
		`{"kind":"Deployment","metadata":{"name":"d"},"spec":{}}`,
		`{"kind":"CronJob","metadata":{"name":"c"},"spec":{"jobTemplate":{"spec":{}}}}`,
		`{"kind":"ConfigMap","metadata":{"name":"c"},"data":{}}`,
		`{"kind":"List","items":[{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"image":"a"}]}}]}`,
		`{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":"nginx"}}`,
		`kind: Pod`,
	} {
		if got, ok := fastImages([]byte(b)); ok {
			t.Errorf("%s: fast path took it: %q", b, got)
		}
	}
}
