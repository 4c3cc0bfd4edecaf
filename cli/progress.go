package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/lapps/lapps/service"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress draws one status line per scan on a terminal, redrawn in
// place at most ten times a second.
type progress struct {
	mu     sync.Mutex
	w      io.Writer
	layers map[int]service.Progress
	whole  *service.Progress // the totals of a server's job (--server)
	total  int
	stage  string
	last   time.Time
	width  int
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, layers: map[int]service.Progress{}}
}

func (p *progress) update(ev service.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ev.Layers > 0 {
		p.total = ev.Layers
	}
	p.stage = ev.Stage
	if ev.Whole {
		p.whole = &ev
	}
	if ev.Layer != "" {
		prev := p.layers[ev.Index]
		if ev.Stage == service.StageLayer || prev.Stage != service.StageLayer || ev.Stage == service.StageDone {
			if ev.Stage != service.StageLayer {
				ev.Read, ev.Total = prev.Read, prev.Total
			}
			p.layers[ev.Index] = ev
		}
	}
	if ev.Stage == service.StageLayer && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.draw()
}

func (p *progress) draw() {
	var done, cached int
	var read, total int64
	for _, l := range p.layers {
		switch l.Stage {
		case service.StageDone:
			done++
		case service.StageCached:
			cached++
		}
		read += l.Read
		if l.Total > 0 {
			total += l.Total
		}
	}
	if w := p.whole; w != nil {
		done, cached, read, total = w.LayersDone, w.LayersCached, w.Read, w.Total
	}
	var line string
	switch p.stage {
	case service.StageResolve:
		line = "resolving image…"
	case service.StageMatch:
		line = fmt.Sprintf("layers %d/%d (%d cached) · matching…", done+cached, p.total, cached)
	default:
		line = fmt.Sprintf("layers %d/%d (%d cached) · %s / %s read and indexed", done+cached, p.total, cached, mb(read), mb(total))
	}
	pad := ""
	if n := p.width - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	p.width = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
}

// finish clears the status line.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.width > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
	}
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
