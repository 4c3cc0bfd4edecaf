// Package secrets finds secrets (tokens, keys) in the contents of text
// files, with a curated rule set kept as data (rules.toml).
//
// Why not gitleaks as a library: gitleaks v8 (v8.30.1 on the module proxy)
// is maintained and its default rules are the best public set, so the
// rules here are taken from it, regex for regex, with the source of each
// stated. But its detect package brings a command-line tool's
// dependencies into lapps (viper, cobra, zerolog, lipgloss, sprig,
// mholt/archives with 7-zip, brotli and rar readers), and scans whole
// fragments with its own buffering, where lapps' walker hands over one
// bounded file at a time and must bound the line length a regex sees.
// Its generic rules (generic-api-key and the like) are noise on a whole
// operating system image; the curated set keeps the rules anchored on a
// vendor prefix or a PEM marker.
//
// A Scanner is safe for concurrent use; a Matcher (one per layer walk)
// is not: it holds the buffers reused from file to file.
package secrets

import (
	"bytes"
	_ "embed"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"

	"github.com/lapps/lapps/vuln"
)

//go:embed rules.toml
var rulesTOML []byte

// Rule is one secret rule.
type Rule struct {
	ID          string   `toml:"id"`
	Description string   `toml:"description"`
	Regex       string   `toml:"regex"`
	Keywords    []string `toml:"keywords"`
	SecretGroup int      `toml:"secret_group"`
	Entropy     float64  `toml:"entropy"`
	Allow       []string `toml:"allow"`
	Severity    string   `toml:"severity"`
	Multiline   bool     `toml:"multiline"`
	Source      string   `toml:"source"`

	re  *regexp.Regexp
	sev vuln.Severity
}

// Sev is the rule's severity.
func (r *Rule) Sev() vuln.Severity { return r.sev }

// Scanner holds compiled rules.
type Scanner struct {
	rules []*Rule
	// anchors group the keywords by their rarest byte (anchorByte): the
	// scan looks for each anchor byte with bytes.IndexByte, one pass per
	// distinct byte, and compares the keywords of that byte around each
	// occurrence. This is lapps' own multi-keyword search, rather than an
	// Aho-Corasick library as gitleaks uses: over an operating system's
	// text files a few SIMD byte scans cost a fraction of a byte-at-a-time
	// automaton, and the search runs on every small text file of every
	// layer.
	anchors []anchor
}

type anchor struct {
	b        byte
	keywords []keyword
}

type keyword struct {
	word  []byte
	at    int // offset of the anchor byte in word
	rules []*Rule
}

// anchorByte returns the offset of the byte of w least frequent in text
// and code, by a coarse estimate: uppercase letters and '_' are rarer
// than digits and '-', which are rarer than '.' and lowercase letters;
// among letters, English letter frequency decides.
func anchorByte(w []byte) int {
	const order = "etaoinshrdlcumwfgypbvkjxqz"
	score := func(b byte) int {
		switch {
		case 'a' <= b && b <= 'z':
			return 50 + 26 - strings.IndexByte(order, b)
		case 'A' <= b && b <= 'Z':
			return 20 + (26-strings.IndexByte(order, b+'a'-'A'))/2
		case '0' <= b && b <= '9':
			return 30
		case b == '_':
			return 25
		case b == '-':
			return 35
		case b == '.':
			return 45
		}
		return 15
	}
	best := 0
	for i := range w {
		if score(w[i]) < score(w[best]) {
			best = i
		}
	}
	return best
}

// Bounds of the scan of one file.
const (
	// MaxLine is the most bytes of a line a regex sees: a longer line
	// (minified code, a data blob) is tried in a window of MaxLine bytes
	// around each keyword.
	MaxLine = 4096
	// MaxBlock is the most bytes a multi-line rule (a PEM private key)
	// sees from its keyword's line on.
	MaxBlock = 64 << 10
	// MaxPerFile is the most secrets reported in one file.
	MaxPerFile = 100
)

var (
	defaultOnce sync.Once
	defaultScan *Scanner
	defaultErr  error
)

// Default returns the scanner of the embedded rules.
func Default() (*Scanner, error) {
	defaultOnce.Do(func() { defaultScan, defaultErr = Parse(rulesTOML) })
	return defaultScan, defaultErr
}

// Parse compiles a rule set in the format of rules.toml.
func Parse(b []byte) (*Scanner, error) {
	var doc struct {
		Rules []*Rule `toml:"rules"`
	}
	if err := toml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("secret rules: %w", err)
	}
	s := &Scanner{rules: doc.Rules}
	byWord := map[string]*keyword{}
	var words []*keyword
	for _, r := range doc.Rules {
		if r.ID == "" || r.Regex == "" || len(r.Keywords) == 0 {
			return nil, fmt.Errorf("secret rules: rule %q needs an id, a regex and keywords", r.ID)
		}
		re, err := regexp.Compile(r.Regex)
		if err != nil {
			return nil, fmt.Errorf("secret rules: %s: %w", r.ID, err)
		}
		if r.SecretGroup < 0 || r.SecretGroup > re.NumSubexp() {
			return nil, fmt.Errorf("secret rules: %s: secret_group %d but %d groups", r.ID, r.SecretGroup, re.NumSubexp())
		}
		sev, ok := vuln.ParseSeverity(r.Severity)
		if !ok {
			return nil, fmt.Errorf("secret rules: %s: severity %q", r.ID, r.Severity)
		}
		r.re, r.sev = re, sev
		for _, k := range r.Keywords {
			if k == "" {
				return nil, fmt.Errorf("secret rules: %s: empty keyword", r.ID)
			}
			kw := byWord[k]
			if kw == nil {
				kw = &keyword{word: []byte(k), at: anchorByte([]byte(k))}
				byWord[k] = kw
				words = append(words, kw)
			}
			kw.rules = append(kw.rules, r)
		}
	}
	byAnchor := map[byte]int{}
	for _, kw := range words {
		b := kw.word[kw.at]
		i, ok := byAnchor[b]
		if !ok {
			i = len(s.anchors)
			byAnchor[b] = i
			s.anchors = append(s.anchors, anchor{b: b})
		}
		s.anchors[i].keywords = append(s.anchors[i].keywords, *kw)
	}
	return s, nil
}

// Rules returns the rules.
func (s *Scanner) Rules() []*Rule { return s.rules }

// Match is one secret found. Value is the secret itself: the caller
// keeps only a redaction of it (checks.Redact).
type Match struct {
	Rule  *Rule
	Line  int
	Value string
}

// Matcher scans files with a Scanner, reusing its buffers.
type Matcher struct {
	s    *Scanner
	seen map[seenKey]bool
}

type seenKey struct {
	rule  *Rule
	start int
}

// NewMatcher returns a Matcher of s.
func (s *Scanner) NewMatcher() *Matcher { return &Matcher{s: s, seen: map[seenKey]bool{}} }

// TextProbe is how many first bytes of a file IsText looks at.
const TextProbe = 8000

// IsText reports whether content looks like text: no NUL byte in its
// first TextProbe bytes (git's heuristic). Secrets are only looked for in
// text.
func IsText(content []byte) bool {
	return bytes.IndexByte(content[:min(len(content), TextProbe)], 0) < 0
}

// Scan reports the secrets of one file's content to emit, at most
// MaxPerFile, in no particular order; emit returning false stops the
// scan. A line is only tried with the rules of a keyword it holds
// (keywords are matched in the case the rules' regexes require: a rule
// matching either case lists both), and a regex sees at most MaxLine
// bytes of a line.
func (m *Matcher) Scan(content []byte, emit func(Match) bool) {
	clear(m.seen)
	found := 0
	for _, a := range m.s.anchors {
		for off := 0; off < len(content); {
			i := bytes.IndexByte(content[off:], a.b)
			if i < 0 {
				break
			}
			at := off + i
			off = at + 1
			for ki := range a.keywords {
				kw := &a.keywords[ki]
				pos := at - kw.at
				if pos < 0 || pos+len(kw.word) > len(content) || content[pos] != kw.word[0] || !bytes.Equal(content[pos:pos+len(kw.word)], kw.word) {
					continue
				}
				if !m.try(content, pos, kw, &found, emit) {
					return
				}
			}
		}
	}
}

// try runs the rules of keyword kw, found at pos, on its line (or a
// window of it); it returns false when the scan is to stop.
func (m *Matcher) try(content []byte, pos int, kw *keyword, found *int, emit func(Match) bool) bool {
	ls := bytes.LastIndexByte(content[:pos], '\n') + 1
	le := bytes.IndexByte(content[pos:], '\n')
	if le < 0 {
		le = len(content)
	} else {
		le += pos
	}
	// The window a regex sees: the line, or MaxLine bytes around the
	// keyword on a longer line.
	ws, we := ls, le
	if we-ws > MaxLine {
		ws = max(ls, pos-MaxLine/2)
		we = min(le, ws+MaxLine)
	}
	for _, r := range kw.rules {
		k := seenKey{r, ws}
		if m.seen[k] {
			continue
		}
		m.seen[k] = true
		end := we
		if r.Multiline {
			end = min(len(content), ws+MaxBlock)
		}
		window := content[ws:end]
		for _, loc := range r.re.FindAllSubmatchIndex(window, -1) {
			if r.Multiline && loc[0] > we-ws {
				break // starts after the keyword's line
			}
			g := 2 * r.SecretGroup
			if loc[g] < 0 {
				continue
			}
			value := string(window[loc[g]:loc[g+1]])
			if r.Multiline {
				// The value of a PEM block is its body, after the header
				// line.
				if j := strings.IndexByte(value, '\n'); j >= 0 {
					value = strings.TrimSpace(value[j+1:])
				}
			}
			if !r.accepts(value) {
				continue
			}
			line := 1 + bytes.Count(content[:ws+loc[0]], []byte{'\n'})
			*found++
			if !emit(Match{Rule: r, Line: line, Value: value}) || *found >= MaxPerFile {
				return false
			}
		}
	}
	return true
}

// accepts applies the rule's entropy and allow-list to a value.
func (r *Rule) accepts(value string) bool {
	for _, a := range r.Allow {
		if strings.Contains(value, a) {
			return false
		}
	}
	return r.Entropy <= 0 || entropy(value) >= r.Entropy
}

// entropy is the Shannon entropy of s in bits per byte.
func entropy(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	var h float64
	n := float64(len(s))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}
