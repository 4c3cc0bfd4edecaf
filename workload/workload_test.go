package workload

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// summary is "Kind ns/name: type name=image, …" or "Kind name: skipped".
func summary(ws []Workload) []string {
	var out []string
	for _, w := range ws {
		if w.Skipped {
			out = append(out, w.String()+": skipped")
			continue
		}
		var cs []string
		for _, c := range w.Containers {
			cs = append(cs, c.Type+" "+c.Name+"="+c.Image)
		}
		out = append(out, w.String()+": "+strings.Join(cs, ", "))
	}
	return out
}

func TestImages(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"testdata/app.yaml", []string{
			"Service nginx: skipped",
			"Deployment web/nginx-deployment: initContainer init-myservice=busybox:1.28, container nginx=nginx:1.14.2, container log-shipper=registry.example.com/tools/fluent-bit@sha256:7d3a4f2b9a1c0e5d8f6b3a2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e",
			"StatefulSet web: container nginx=registry.k8s.io/nginx-slim:0.24",
			"DaemonSet kube-system/fluentd-elasticsearch: container fluentd-elasticsearch=quay.io/fluentd_elasticsearch/fluentd:v5.0.1",
			"CronJob hello: container hello=busybox:1.28",
			"Job pi: container pi=perl:5.34.0",
			"ReplicaSet frontend: container php-redis=us-docker.pkg.dev/google-samples/containers/gke/gb-frontend:v5",
			"ConfigMap game-demo: skipped",
		}},
		{"testdata/list.json", []string{
			"Pod default/myapp-pod: initContainer init-myservice=busybox:1.28, initContainer init-mydb=busybox:1.28, container myapp-container=busybox:1.28, ephemeralContainer debugger-8xzrl=busybox:1.28",
			"Deployment kube-system/coredns: container coredns=registry.k8s.io/coredns/coredns:v1.11.3",
			"Service kube-system/kube-dns: skipped",
		}},
	}
	for _, tt := range tests {
		f, err := os.Open(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		ws, err := Images(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if got := summary(ws); !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n%s\nwant\n%s", tt.file, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
	}
	ws, _ := Images(strings.NewReader(mustRead(t, "testdata/list.json")))
	if got := ws[0].Images(); !slices.Equal(got, []string{"busybox:1.28"}) {
		t.Errorf("distinct images of the pod: %q", got)
	}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestImagesErrors(t *testing.T) {
	deploy := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: nginx}]\n"
	tests := []struct{ in, want string }{
		{deploy + "---\nkind: Pod\nmetadata: {name: p\nspec: {}\n", "document 1: "},
		{deploy + "---\n- a\n- b\n", "document 1: line 9: want a Kubernetes object (a mapping), got a sequence"},
		{deploy + "---\njust text\n", `document 1: line 9: want a Kubernetes object (a mapping), got "just text"`},
		{"metadata: {name: x}\n", "document 0: line 1: object without kind"},
		{"kind: Deployment\nmetadata: {name: x}\nspec: {}\n", "document 0: Deployment x: no spec.template"},
		{"kind: CronJob\nmetadata: {name: x}\nspec: {jobTemplate: {spec: {}}}\n", "CronJob x: no spec.jobTemplate.spec.template"},
		{"kind: Pod\nmetadata: {namespace: n}\nspec: {containers: [{name: a, image: b}]}\n", "Pod without metadata.name"},
		{"kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a}]}\n", `Pod p: container 0 ("a") has no image`},
		{"kind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n", "Pod p: no containers"},
		{"kind: Pod\nmetadata: {name: p}\nspec: {containers: {name: a}}\n", "document 0: yaml: unmarshal errors"},
		{"kind: List\nitems:\n- kind: Pod\n  metadata: {name: p}\n  spec: {containers: [{name: a}]}\n", `document 0: items[0]: Pod p: container 0 ("a") has no image`},
		{`{"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [`, "document 0: yaml:"},
	}
	for _, tt := range tests {
		_, err := Images(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Images(%q): %v, want an error containing %q", tt.in, err, tt.want)
		}
	}
	if ws, err := Images(strings.NewReader("")); err != nil || len(ws) != 0 {
		t.Errorf("empty input: %v %v", ws, err)
	}
}

func FuzzImages(f *testing.F) {
	for _, name := range []string{"testdata/app.yaml", "testdata/list.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ws, err := Images(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		for _, w := range ws {
			if !w.Skipped && (w.Name == "" || len(w.Containers) == 0) {
				t.Fatalf("workload without name or containers: %+v", w)
			}
		}
	})
}
