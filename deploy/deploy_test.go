// Package deploy holds example Kubernetes manifests; its test reads them
// strictly into the Kubernetes API types.
package deploy

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/lapps/lapps/config"
)

// TestManifests decodes every document with unknown fields refused and
// checks the webhook registration against what lapps serves.
func TestManifests(t *testing.T) {
	kinds := map[string]func() any{
		"Namespace":                      func() any { return &corev1.Namespace{} },
		"ConfigMap":                      func() any { return &corev1.ConfigMap{} },
		"PersistentVolumeClaim":          func() any { return &corev1.PersistentVolumeClaim{} },
		"Service":                        func() any { return &corev1.Service{} },
		"Deployment":                     func() any { return &appsv1.Deployment{} },
		"NetworkPolicy":                  func() any { return &networkingv1.NetworkPolicy{} },
		"ValidatingWebhookConfiguration": func() any { return &admissionregistrationv1.ValidatingWebhookConfiguration{} },
	}
	objs := map[string]any{}
	for _, file := range []string{"lapps.yaml", "webhook.yaml"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		// The placeholder README.md replaces with the CA.
		b = bytes.ReplaceAll(b, []byte("caBundle: CA_BUNDLE"), []byte("caBundle: "+base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----"))))
		for i, doc := range bytes.Split(b, []byte("\n---\n")) {
			var meta struct{ Kind string }
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s doc %d: %v", file, i, err)
			}
			mk, ok := kinds[meta.Kind]
			if !ok {
				t.Fatalf("%s doc %d: unexpected kind %q", file, i, meta.Kind)
			}
			obj := mk()
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Fatalf("%s doc %d (%s): %v", file, i, meta.Kind, err)
			}
			objs[meta.Kind] = obj
		}
	}
	vwc, _ := objs["ValidatingWebhookConfiguration"].(*admissionregistrationv1.ValidatingWebhookConfiguration)
	svc, _ := objs["Service"].(*corev1.Service)
	dep, _ := objs["Deployment"].(*appsv1.Deployment)
	cm, _ := objs["ConfigMap"].(*corev1.ConfigMap)
	if vwc == nil || svc == nil || dep == nil || cm == nil || len(vwc.Webhooks) != 1 {
		t.Fatalf("manifests missing: %v", objs)
	}
	w := vwc.Webhooks[0]
	cc := w.ClientConfig.Service
	if cc == nil || cc.Name != svc.Name || cc.Namespace != svc.Namespace || cc.Path == nil || *cc.Path != "/v1/admission" || cc.Port == nil || *cc.Port != svc.Spec.Ports[0].Port {
		t.Errorf("webhook service %+v does not name the Service %s/%s port %d at /v1/admission", cc, svc.Namespace, svc.Name, svc.Spec.Ports[0].Port)
	}
	if w.TimeoutSeconds == nil || *w.TimeoutSeconds != 5 || w.SideEffects == nil || *w.SideEffects != admissionregistrationv1.SideEffectClassNone ||
		len(w.AdmissionReviewVersions) != 1 || w.AdmissionReviewVersions[0] != "v1" || w.FailurePolicy == nil {
		t.Errorf("webhook settings: %+v", w)
	}
	var resources []string
	for _, r := range w.Rules {
		resources = append(resources, r.Resources...)
	}
	for _, want := range []string{"pods", "deployments", "statefulsets", "daemonsets", "replicasets", "jobs", "cronjobs"} {
		if !strings.Contains(" "+strings.Join(resources, " ")+" ", " "+want+" ") {
			t.Errorf("webhook rules lack %s", want)
		}
	}
	// The Deployment mounts the TLS secret where the configuration says.
	var secret bool
	for _, v := range dep.Spec.Template.Spec.Volumes {
		secret = secret || (v.Secret != nil && v.Secret.SecretName == "lapps-tls")
	}
	if !secret || !strings.Contains(cm.Data["config.yaml"], "tls_cert: /etc/lapps/tls/tls.crt") || !strings.Contains(cm.Data["config.yaml"], "admission:") {
		t.Errorf("TLS secret or admission configuration missing")
	}
	// The configuration is one lapps serve accepts.
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cm.Data["config.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Server.Admission; a == nil || a.Policy == nil || a.Policy.FailOn != "high" {
		t.Errorf("admission configuration %+v", a)
	}
}
