// Package config checks an image's configuration (the config blob: user,
// environment, exposed ports, health check, and the history of the
// build steps) and its distribution release's end of life.
package config

import (
	_ "embed"
	"fmt"
	"log/slog"
	"regexp"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"gopkg.in/yaml.v3"

	"github.com/lapps/lapps/checks"
	"github.com/lapps/lapps/checks/secrets"
	"github.com/lapps/lapps/vuln"
)

// sensitivePorts are ports whose exposure gives remote administration of
// the container or its host.
var sensitivePorts = map[int]string{
	21: "FTP", 22: "SSH", 23: "Telnet", 111: "RPC portmapper", 445: "SMB", 2375: "Docker API without TLS",
	2376: "Docker API", 3389: "RDP", 5900: "VNC", 5985: "WinRM", 6443: "Kubernetes API", 10250: "kubelet API",
}

// secretName matches the names of variables that hold secrets.
var secretName = regexp.MustCompile(`(?i)(passw(or)?d|passwd|secret|token|api_?key|access_?key|private_?key|credential|auth)`)

// addURL matches an ADD step from a URL, in Docker's and BuildKit's
// history forms ("#(nop) ADD https://…", "ADD --chmod=… https://…").
var addURL = regexp.MustCompile(`(?i)\bADD\s+(?:--\S+\s+)*(https?|ftp)://`)

// buildArgs matches BuildKit's listing of build arguments in a RUN step
// ("RUN |2 A=1 B=2 /bin/sh -c …").
var buildArgs = regexp.MustCompile(`^(?:RUN\s+)?\|(\d+)\s+`)

// Check checks cfg. layers are the digests of the image's layers, base
// first: history entries that made a layer name it. A nil cfg (dir:
// trees have none) gives no findings. The history is read until
// checks.MaxPerLayer findings (a step is read up to 64 KiB); a panic on
// a hostile configuration is recovered into no findings.
func Check(cfg *v1.ConfigFile, layers []string) (out []checks.Finding) {
	defer func() {
		if v := recover(); v != nil {
			slog.Error("configuration checks panic", "panic", v, "stack", string(debug.Stack()))
			out = nil
		}
	}()
	return check(cfg, layers)
}
func check(cfg *v1.ConfigFile, layers []string) []checks.Finding {
	if cfg == nil {
		return nil
	}
	var out []checks.Finding
	c := cfg.Config
	if u := strings.TrimSpace(c.User); u == "" || u == "root" || u == "0" || strings.HasPrefix(u, "root:") || strings.HasPrefix(u, "0:") {
		d := "the configuration sets no USER: the container runs as root"
		if u != "" {
			d = fmt.Sprintf("USER %s: the container runs as root", u)
		}
		out = append(out, checks.Finding{ID: checks.ConfigRootUser, Severity: vuln.SeverityLow, Title: "Image runs as root", Detail: d})
	}
	envSeen := map[string]bool{}
	for _, e := range c.Env {
		name, value, _ := strings.Cut(e, "=")
		if f, ok := secretValue("ENV", name, value); ok {
			f.ID, f.Title = checks.ConfigSecretEnv, "Secret in an environment variable of the image"
			out = append(out, f)
			envSeen[f.Detail] = true
		}
	}
	var ports []int
	for p := range c.ExposedPorts {
		n, _ := strconv.Atoi(strings.SplitN(p, "/", 2)[0])
		if _, ok := sensitivePorts[n]; ok {
			ports = append(ports, n)
		}
	}
	sort.Ints(ports)
	for _, n := range ports {
		out = append(out, checks.Finding{ID: checks.ConfigSensitivePort, Severity: vuln.SeverityMedium,
			Title: "Sensitive port exposed", Detail: fmt.Sprintf("EXPOSE %d (%s)", n, sensitivePorts[n])})
	}
	if c.Healthcheck == nil || (len(c.Healthcheck.Test) > 0 && strings.EqualFold(c.Healthcheck.Test[0], "NONE")) {
		out = append(out, checks.Finding{ID: checks.ConfigNoHealthcheck, Severity: vuln.SeverityNegligible,
			Title: "No HEALTHCHECK", Detail: "the configuration has no health check: an orchestrator that reads it cannot tell a hung container"})
	}
	k := 0
	for i, h := range cfg.History {
		layer := ""
		if !h.EmptyLayer {
			if k < len(layers) {
				layer = layers[k]
			}
			k++
		}
		step := strings.TrimSpace(h.CreatedBy)
		step = strings.TrimPrefix(step, "/bin/sh -c ")
		step = strings.TrimSpace(strings.TrimPrefix(step, "#(nop) "))
		if len(step) > 64<<10 {
			step = step[:64<<10]
		}
		if addURL.MatchString(step) {
			out = append(out, checks.Finding{ID: checks.ConfigAddURL, Severity: vuln.SeverityLow, Layer: layer,
				Title:  "ADD from a URL",
				Detail: fmt.Sprintf("history step %d adds a remote file without checking it (use a verified download in a RUN step, or ADD --checksum)", i+1)})
		}
		if len(out) >= checks.MaxPerLayer {
			break // a hostile history: the first findings are kept
		}
		for _, f := range historySecrets(step) {
			if f.ID == checks.ConfigSecretEnv && envSeen[f.Detail] {
				continue // the configuration's own ENV, reported above
			}
			f.Layer = layer
			f.Detail = fmt.Sprintf("history step %d: %s", i+1, f.Detail)
			out = append(out, f)
		}
	}
	return out
}

// historySecrets finds secrets a history step shows: ENV steps (Docker's
// "ENV NAME=value"), build arguments BuildKit lists ("|2 NAME=value …"),
// and values of a secret rule's shape anywhere in the step.
func historySecrets(step string) []checks.Finding {
	var out []checks.Finding
	switch {
	case strings.HasPrefix(step, "ENV "):
		for _, kv := range strings.Fields(step[4:]) {
			if name, value, ok := strings.Cut(kv, "="); ok {
				if f, ok := secretValue("ENV", name, value); ok {
					f.ID, f.Title = checks.ConfigSecretEnv, "Secret in an environment variable of the image"
					out = append(out, f)
				}
			}
		}
	case buildArgs.MatchString(step):
		m := buildArgs.FindStringSubmatchIndex(step)
		n, _ := strconv.Atoi(step[m[2]:m[3]])
		fields := strings.Fields(step[m[1]:])
		for i := 0; i < n && i < len(fields); i++ {
			if name, value, ok := strings.Cut(fields[i], "="); ok {
				if f, ok := secretValue("ARG", name, value); ok {
					f.ID, f.Title = checks.ConfigSecretArg, "Secret in a build argument visible in the history"
					out = append(out, f)
				}
			}
		}
	}
	if s, err := secrets.Default(); err == nil {
		s.NewMatcher().Scan([]byte(step), func(m secrets.Match) bool {
			out = append(out, checks.Finding{ID: checks.ConfigSecretArg, Severity: m.Rule.Sev(),
				Title:  "Secret in the history of the image",
				Detail: fmt.Sprintf("a %s (%s, rule %s)", m.Rule.Description, checks.Redact(m.Value), m.Rule.ID)})
			return len(out) < 100
		})
	}
	return out
}

// secretValue reports a variable whose name says it holds a secret and
// whose value is set and is not a reference (a file path, a variable).
func secretValue(kind, name, value string) (checks.Finding, bool) {
	value = strings.Trim(value, `"'`)
	if !secretName.MatchString(name) || len(value) < 4 || strings.HasPrefix(value, "/") || strings.HasPrefix(value, "$") {
		return checks.Finding{}, false
	}
	if strings.HasSuffix(strings.ToUpper(name), "_FILE") || strings.HasSuffix(strings.ToUpper(name), "_PATH") {
		return checks.Finding{}, false
	}
	if len(name) > 128 {
		name = name[:128] + "…"
	}
	return checks.Finding{Severity: vuln.SeverityHigh, Detail: fmt.Sprintf("%s %s=%s", kind, name, checks.Redact(value))}, true
}

//go:embed eol.yaml
var eolYAML []byte

var (
	eolOnce  sync.Once
	eolTable map[string]map[string]time.Time
	eolErr   error
)

func table() (map[string]map[string]time.Time, error) {
	eolOnce.Do(func() {
		var raw map[string]map[string]string
		if eolErr = yaml.Unmarshal(eolYAML, &raw); eolErr != nil {
			return
		}
		eolTable = map[string]map[string]time.Time{}
		for d, rels := range raw {
			eolTable[d] = map[string]time.Time{}
			for r, s := range rels {
				t, err := time.Parse(time.DateOnly, s)
				if err != nil {
					eolErr = fmt.Errorf("eol.yaml: %s %s: %w", d, r, err)
					return
				}
				eolTable[d][r] = t
			}
		}
	})
	return eolTable, eolErr
}

// EOLDate returns the end of life of a distribution release, and whether
// the table knows it.
func EOLDate(d *vuln.Distribution) (time.Time, bool) {
	if d.Empty() {
		return time.Time{}, false
	}
	t, err := table()
	if err != nil {
		return time.Time{}, false
	}
	rels := t[d.ID]
	if rels == nil {
		return time.Time{}, false
	}
	v := d.VersionID
	if v == "" {
		v = d.Version
	}
	parts := strings.Split(v, ".")
	var key string
	switch d.ID {
	case "alpine", "ubuntu":
		if len(parts) < 2 {
			return time.Time{}, false
		}
		key = parts[0] + "." + parts[1]
	default:
		key = parts[0]
	}
	e, ok := rels[key]
	return e, ok
}

// EOL returns the finding of a distribution release past its end of life
// at now, or nil.
func EOL(d *vuln.Distribution, now time.Time) *checks.Finding {
	e, ok := EOLDate(d)
	if !ok || now.Before(e) {
		return nil
	}
	name := d.PrettyName
	if name == "" {
		name = d.ID + " " + d.VersionID
	}
	return &checks.Finding{ID: checks.ConfigEOLBase, Severity: vuln.SeverityHigh, Title: "Base distribution is end of life",
		Detail: fmt.Sprintf("%s reached its end of life on %s: it gets no more security updates", name, e.Format(time.DateOnly))}
}
