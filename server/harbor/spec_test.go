package harbor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/lapps/lapps/testenv"
)

// specSchemas compiles the component schemas of Harbor's scanner adapter
// OpenAPI document (../shared/specs/harbor), converted from YAML to JSON,
// with formats asserted.
type specSchemas struct {
	c   *jsonschema.Compiler
	url string
}

func loadSpec(t testing.TB) *specSchemas {
	t.Helper()
	path := testenv.Shared(t) + "/specs/harbor/scanner-adapter-openapi-v1.2.yaml"
	b, err := os.ReadFile(path)
	if err != nil {
		testenv.Missing(t, "Harbor's scanner adapter spec: %v", err)
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	js, err := json.Marshal(jsonKeys(doc))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "file:///harbor-scanner-adapter-v1.2.json"
	if err := c.AddResource(url, inst); err != nil {
		t.Fatal(err)
	}
	return &specSchemas{c: c, url: url}
}

// jsonKeys turns YAML's maps (whose keys may be numbers: response codes)
// into JSON objects.
func jsonKeys(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = jsonKeys(e)
		}
		return v
	case map[any]any:
		m := map[string]any{}
		for k, e := range v {
			m[fmt.Sprint(k)] = jsonKeys(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = jsonKeys(e)
		}
	}
	return v
}

// validate checks body against the component schema name and returns it
// decoded.
func (s *specSchemas) validate(t testing.TB, name string, body []byte) map[string]any {
	t.Helper()
	sch, err := s.c.Compile(s.url + "#/components/schemas/" + name)
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, body)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("%s does not validate: %v\n%s", name, err, body)
	}
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return m
}

// TestSpecSchemasBite: the validator refuses what the spec forbids, so
// that the tests that use it can fail.
func TestSpecSchemasBite(t *testing.T) {
	s := loadSpec(t)
	for _, c := range []struct{ schema, body string }{
		{"ScannerAdapterMetadata", `{"scanner":{"name":"x"}}`},
		{"HarborVulnerabilityReport", `{"severity":"Severe"}`},
		{"HarborVulnerabilityReport", `{"generated_at":"yesterday"}`},
		{"ScanResponse", `{}`},
		{"HarborSbomReport", `{"media_type":"text/plain"}`},
	} {
		sch, err := s.c.Compile(s.url + "#/components/schemas/" + c.schema)
		if err != nil {
			t.Fatal(err)
		}
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(c.body)))
		if sch.Validate(inst) == nil {
			t.Errorf("%s accepted %s", c.schema, c.body)
		}
	}
}
