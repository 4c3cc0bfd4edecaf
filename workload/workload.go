// Package workload finds the container images of Kubernetes workloads in
// manifests: Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs,
// CronJobs and Pods, in multi-document YAML, JSON and `kind: List`.
//
// It reads only the fields it needs with gopkg.in/yaml.v3 (which reads JSON
// too) rather than decoding into k8s.io/api's types: those bring
// apimachinery and about thirty packages, and decode every field strictly
// (a resource quantity or probe the cluster's version knows and theirs does
// not would reject a manifest for a field no image depends on).
package workload

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// Container kinds.
const (
	Container          = "container"
	InitContainer      = "initContainer"
	EphemeralContainer = "ephemeralContainer"
)

// Workload is one workload object and its images.
type Workload struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	// Containers are the pod template's (or the pod's) containers: init
	// containers first, then containers, then ephemeral containers, each
	// in the manifest's order.
	Containers []ContainerImage `json:"containers"`
	// Skipped is set, with Containers empty, for an object whose kind has
	// no pod template here (a Service, a ConfigMap…).
	Skipped bool `json:"skipped,omitempty"`
}

// ContainerImage is one container of a workload.
type ContainerImage struct {
	// Name is the container's name.
	Name string `json:"name"`
	// Type is Container, InitContainer or EphemeralContainer.
	Type  string `json:"type"`
	Image string `json:"image"`
}

// Images returns the distinct images of w, in order of first appearance.
func (w Workload) Images() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range w.Containers {
		if c.Image != "" && !seen[c.Image] {
			seen[c.Image] = true
			out = append(out, c.Image)
		}
	}
	return out
}

// String is "Deployment default/web".
func (w Workload) String() string {
	if w.Namespace == "" {
		return w.Kind + " " + w.Name
	}
	return w.Kind + " " + w.Namespace + "/" + w.Name
}

// maxInput bounds what Images reads.
const maxInput = 64 << 20

// Images reads Kubernetes manifests from r (YAML documents separated by
// ---, or JSON) and returns every object in order: the workload kinds with
// their containers, the items of a List in place, and other kinds with
// Skipped set. Empty documents are left out. A document that does not
// parse, or a workload without a name or with a container without an
// image, is an error naming the document (counted from 0).
func Images(r io.Reader) ([]Workload, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("read manifests: %w", err)
	}
	if len(b) > maxInput {
		return nil, fmt.Errorf("manifests larger than %d MiB", maxInput>>20)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []Workload
	for i := 0; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		ws, err := fromNode(&doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		out = append(out, ws...)
	}
	return out, nil
}

// ParseObject decodes one object as JSON or YAML (an AdmissionReview's
// request.object, say) and returns its workloads as Images does.
func ParseObject(data []byte) ([]Workload, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	return fromNode(&doc)
}

// object is the part of an object read here.
type object struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   metadata `yaml:"metadata"`
	Spec       struct {
		podSpec     `yaml:",inline"`
		Template    *podTemplate `yaml:"template"`
		JobTemplate *struct {
			Spec struct {
				Template *podTemplate `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"jobTemplate"`
	} `yaml:"spec"`
	Items []yaml.Node `yaml:"items"`
}

type metadata struct {
	Name         string `yaml:"name"`
	GenerateName string `yaml:"generateName"`
	Namespace    string `yaml:"namespace"`
}

type podTemplate struct {
	Spec podSpec `yaml:"spec"`
}

type podSpec struct {
	InitContainers      []container `yaml:"initContainers"`
	Containers          []container `yaml:"containers"`
	EphemeralContainers []container `yaml:"ephemeralContainers"`
}

type container struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
}

// fromNode returns the workloads of one decoded document (a List gives its
// items); nil for an empty document.
func fromNode(doc *yaml.Node) ([]Workload, error) {
	n := doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, nil
		}
		n = n.Content[0]
	}
	if n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a Kubernetes object (a mapping), got %s", n.Line, nodeKind(n))
	}
	var o object
	if err := n.Decode(&o); err != nil {
		return nil, err
	}
	if o.Kind == "" {
		return nil, fmt.Errorf("line %d: object without kind", n.Line)
	}
	if strings.HasSuffix(o.Kind, "List") && o.Kind != "List" && len(o.Items) == 0 {
		return nil, nil // an empty DeploymentList and such
	}
	if strings.HasSuffix(o.Kind, "List") {
		var out []Workload
		for j := range o.Items {
			ws, err := fromNode(&o.Items[j])
			if err != nil {
				return nil, fmt.Errorf("items[%d]: %w", j, err)
			}
			out = append(out, ws...)
		}
		return out, nil
	}
	w := Workload{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Metadata.Namespace, Name: o.Metadata.Name}
	if w.Name == "" {
		w.Name = o.Metadata.GenerateName
	}
	var spec *podSpec
	switch o.Kind {
	case "Pod":
		spec = &o.Spec.podSpec
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job":
		if o.Spec.Template == nil {
			return nil, fmt.Errorf("%s: no spec.template", w)
		}
		spec = &o.Spec.Template.Spec
	case "CronJob":
		if o.Spec.JobTemplate == nil || o.Spec.JobTemplate.Spec.Template == nil {
			return nil, fmt.Errorf("%s: no spec.jobTemplate.spec.template", w)
		}
		spec = &o.Spec.JobTemplate.Spec.Template.Spec
	default:
		w.Skipped = true
		return []Workload{w}, nil
	}
	if w.Name == "" {
		return nil, fmt.Errorf("line %d: %s without metadata.name", n.Line, o.Kind)
	}
	for _, group := range []struct {
		typ string
		cs  []container
	}{{InitContainer, spec.InitContainers}, {Container, spec.Containers}, {EphemeralContainer, spec.EphemeralContainers}} {
		for k, c := range group.cs {
			if strings.TrimSpace(c.Image) == "" {
				return nil, fmt.Errorf("%s: %s %d (%q) has no image", w, group.typ, k, c.Name)
			}
			w.Containers = append(w.Containers, ContainerImage{Name: c.Name, Type: group.typ, Image: c.Image})
		}
	}
	if len(spec.Containers) == 0 {
		return nil, fmt.Errorf("%s: no containers", w)
	}
	return []Workload{w}, nil
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "something else"
}
