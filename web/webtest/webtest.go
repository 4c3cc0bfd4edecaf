// Package webtest drives a real headless Chromium (Debian's chromium,
// installed by .ci/run) for the console's browser tests, through
// github.com/chromedp/chromedp: it starts the browser, saves screenshots
// as test artifacts, collects console errors and runs axe-core (from
// npm, LAPPS_AXE_JS) in each page.
package webtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/lapps/lapps/testenv"
)

// Browser is one headless Chromium tab.
type Browser struct {
	tb  testing.TB
	Ctx context.Context
	// Artifacts is the directory screenshots are saved in:
	// $LAPPS_ARTIFACTS/<test name> when set, else a temporary directory
	// of the test.
	Artifacts string

	mu     sync.Mutex
	errors []string
}

// Start starts Chromium (skipping, or failing under CI, when it is not
// installed) with a tab of 1280×900 whose console errors and uncaught
// exceptions are collected (Errors).
func Start(tb testing.TB) *Browser {
	tb.Helper()
	bin := testenv.Tool(tb, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	b := &Browser{tb: tb, Ctx: ctx}
	tb.Cleanup(func() { cancelC(); cancelA() })
	b.Artifacts = tb.TempDir()
	if dir := os.Getenv("LAPPS_ARTIFACTS"); dir != "" {
		b.Artifacts = filepath.Join(dir, strings.ReplaceAll(tb.Name(), "/", "_"))
		if err := os.MkdirAll(b.Artifacts, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	chromedp.ListenTarget(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			b.errors = append(b.errors, "exception: "+ev.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value))
				}
				b.errors = append(b.errors, "console.error: "+strings.Join(parts, " "))
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.LevelError {
				b.errors = append(b.errors, fmt.Sprintf("%s: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	if err := chromedp.Run(ctx, log.Enable(), runtime.Enable()); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	return b
}

// Run runs actions in the tab, bounded by a minute.
func (b *Browser) Run(actions ...chromedp.Action) error {
	ctx, cancel := context.WithTimeout(b.Ctx, time.Minute)
	defer cancel()
	return chromedp.Run(ctx, actions...)
}

// Must runs actions and fails the test on error.
func (b *Browser) Must(what string, actions ...chromedp.Action) {
	b.tb.Helper()
	if err := b.Run(actions...); err != nil {
		// What the page showed, to tell why.
		var loc, text string
		ctx, cancel := context.WithTimeout(b.Ctx, 5*time.Second)
		defer cancel()
		_ = chromedp.Run(ctx, chromedp.Location(&loc), chromedp.Evaluate(`document.body ? document.body.innerText : ""`, &text))
		b.tb.Fatalf("%s: %v (page %s: %.1500s)", what, err, loc, text)
	}
}

// MustNavigate runs actions that load another document (a click on a
// link or a submit button), waits until it has loaded, and fails the
// test on error or an HTTP error status. Reading the page right after
// such a click may read the document being left, when the new one
// replaces it at the same place (a form that submits to its own page).
func (b *Browser) MustNavigate(what string, actions ...chromedp.Action) {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, time.Minute)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		b.tb.Fatalf("%s: %v", what, err)
	}
	if resp == nil || resp.Status >= 400 {
		b.tb.Fatalf("%s: response %+v", what, resp)
	}
}

// Errors returns the console errors and exceptions seen so far, and
// forgets them.
func (b *Browser) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.errors
	b.errors = nil
	return out
}

// Screenshot saves the whole page as name-1280.png and name-390.png
// (the width of a phone), its first screen as name-1280-top.png and
// name-390-top.png, and returns the paths.
func (b *Browser) Screenshot(name string) []string {
	b.tb.Helper()
	var paths []string
	for _, w := range []int64{1280, 390} {
		// The whole page, and the first screen of it (easier to look
		// at for a long page).
		var full, top []byte
		b.Must("screenshot "+name,
			emulation.SetDeviceMetricsOverride(w, 900, 1, w < 600),
			chromedp.Sleep(100*time.Millisecond),
			chromedp.FullScreenshot(&full, 100), // 100: PNG
			chromedp.CaptureScreenshot(&top))
		// Reads well: nothing makes the page wider than the screen
		// (wide tables scroll in their own box).
		var over struct {
			Width    int      `json:"width"`
			Elements []string `json:"elements"`
		}
		b.Must("measure "+name, chromedp.Evaluate(`(() => {
			const w = document.documentElement.clientWidth, out = [];
			for (const e of document.querySelectorAll("body *")) {
				const r = e.getBoundingClientRect();
				let clipped = false;
				for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
					const o = getComputedStyle(p).overflowX;
					if (o === "auto" || o === "scroll" || o === "hidden") { clipped = true; break; }
				}
				if (!clipped && r.right > w + 1) out.push(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + " " + Math.round(r.right) + "px");
			}
			return {width: document.documentElement.scrollWidth, elements: out.slice(0, 10)};
		})()`, &over))
		if over.Width > int(w)+1 {
			b.tb.Errorf("%s at %d px is %d px wide: %q", name, w, over.Width, over.Elements)
		}
		for suffix, png := range map[string][]byte{"": full, "-top": top} {
			p := filepath.Join(b.Artifacts, fmt.Sprintf("%s-%d%s.png", name, w, suffix))
			if err := os.WriteFile(p, png, 0o644); err != nil {
				b.tb.Fatal(err)
			}
			paths = append(paths, p)
		}
	}
	b.Must("reset the width", emulation.ClearDeviceMetricsOverride())
	return paths
}

// Violation is one axe-core rule a page breaks.
type Violation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// Axe runs axe-core (LAPPS_AXE_JS: axe.min.js, which .ci/run installs
// from npm) in the current page and fails the test on any serious or
// critical violation; it skips (fails under CI) without axe-core.
func (b *Browser) Axe(name string) {
	b.tb.Helper()
	path := os.Getenv("LAPPS_AXE_JS")
	if path == "" {
		testenv.Missing(b.tb, "LAPPS_AXE_JS is not set (.ci/run installs axe-core from npm and sets it)")
		return
	}
	src, err := os.ReadFile(path)
	if err != nil {
		testenv.Missing(b.tb, "axe-core: %v", err)
		return
	}
	var res []Violation
	// The console forbids scripts (CSP); the test's own script runs
	// through the DevTools protocol, which the policy does not govern.
	b.Must("axe "+name,
		chromedp.Evaluate(string(src), nil),
		chromedp.Evaluate(`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations)`, &res,
			func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	for _, v := range res {
		if v.Impact == "serious" || v.Impact == "critical" {
			tj, _ := json.Marshal(v.Nodes)
			b.tb.Errorf("axe on %s: %s (%s): %s; nodes %.400s", name, v.ID, v.Impact, v.Help, tj)
		} else {
			b.tb.Logf("axe on %s (minor): %s (%s): %s", name, v.ID, v.Impact, v.Help)
		}
	}
}
