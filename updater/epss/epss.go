// Package epss parses FIRST's Exploit Prediction Scoring System scores
// ("epss"): the daily CSV, gzip-compressed, published at
// https://epss.empiricalsecurity.com/epss_scores-current.csv.gz. Its
// records enrich findings with the probability that a CVE is exploited in
// the next 30 days.
package epss

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/vuln"
)

func init() { updater.Register("epss", Parser{}) }

// Reasons under which malformed rows are counted (updater.Skip).
const (
	SkipBadID        = "epss: row whose cve is not a CVE id"
	SkipBadScore     = "epss: row whose epss or percentile is not a number in [0,1]"
	SkipShortRow     = "epss: row with fewer columns than the header"
	SkipDuplicateCVE = "epss: row repeating a cve"
)

// MaxLineBytes bounds one line of the CSV: a real row is about 35 bytes,
// the comment line about 60.
const MaxLineBytes = 4 << 10

// Parser parses the scores CSV, gzip-compressed or plain:
//
//	#model_version:v2025.03.14,score_date:2025-08-25T12:55:00Z
//	cve,epss,percentile
//	CVE-1999-0001,0.0123,0.79561
//
// One record per CVE: Ecosystem vuln.EcosystemEnrichment, Package and ID
// the CVE id (upper case), Status unfixed (nothing is said of fixes; no
// installed package matches an enrichment record), EPSS{Score, Percentile,
// Date}: the date (YYYY-MM-DD) of the comment line's score_date, or empty
// for the older files without that line; Modified is that date too, so
// that the age of the data shows. The columns are found by the
// header's names (cve, epss, percentile), in any order.
//
// A row whose cve is not a CVE id, whose epss or percentile is not a
// number in [0,1], that has fewer columns than the header, or that
// repeats a CVE (the first is kept), is skipped and counted
// (updater.Skip). The CSV is read as a stream: the decompressed bytes
// within Limits.FileBytes (the gzip stream's own size claims are not
// trusted), a line within MaxLineBytes, at most Limits.Records rows kept.
//
// Every file of the feed that is gzip-compressed or starts with the
// comment line (#model_version) or a header naming cve first is read; a
// feed with none, or a CSV without cve, epss and percentile columns, is
// an error. encoding/csv is not used: it bounds no line, and the file has
// no quoting to handle.
type Parser struct{}

// skips counts the rows skipped, by reason.
type skips map[string]int

// Parse implements updater.Parser.
func (Parser) Parse(ctx context.Context, feed fs.FS) ([]vuln.Record, error) {
	lim := updater.LimitsOf(feed)
	var recs []vuln.Record
	seen := map[string]bool{}
	sk := skips{}
	found := 0
	err := fs.WalkDir(feed, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := feed.Open(p)
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		defer f.Close()
		br := bufio.NewReaderSize(f, 64<<10)
		head, _ := br.Peek(64)
		if !isGzip(head) && !looksLikeCSV(head) {
			return nil
		}
		found++
		if err := read(ctx, br, p, lim, seen, sk, &recs); err != nil {
			return fmt.Errorf("parse %s: %w", p, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("epss: %w", err)
	}
	if found == 0 {
		return nil, errors.New("epss: no EPSS CSV (gzip, or starting with #model_version or a cve header) in the feed")
	}
	for reason, n := range sk {
		updater.Skip(ctx, reason, n)
	}
	return recs, nil
}

// ParseCSV parses one scores file, gzip-compressed or plain, within lim
// (zero fields: their defaults). skipped counts the rows skipped, by
// reason.
func ParseCSV(ctx context.Context, r io.Reader, lim updater.Limits) (recs []vuln.Record, skipped map[string]int, err error) {
	sk := skips{}
	if err := read(ctx, r, "csv", lim.Or(updater.DefaultLimits()), map[string]bool{}, sk, &recs); err != nil {
		return nil, nil, fmt.Errorf("epss: %w", err)
	}
	return recs, sk, nil
}

func isGzip(head []byte) bool { return len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b }

// looksLikeCSV reports whether a file starts like an EPSS CSV: its
// comment line (#model_version:…) or a header naming cve first.
func looksLikeCSV(head []byte) bool {
	head = bytes.ToLower(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")))
	return bytes.HasPrefix(head, []byte("#model_version")) || bytes.HasPrefix(head, []byte("#score_date")) ||
		bytes.HasPrefix(head, []byte("cve,"))
}

// decompressed bounds the bytes a gzip stream expands to.
type decompressed struct {
	r    io.Reader
	n    int64
	max  int64
	name string
}

func (d *decompressed) Read(p []byte) (int, error) {
	if d.n >= d.max {
		var one [1]byte
		if n, err := d.r.Read(one[:]); n == 0 {
			return 0, err
		}
		return 0, limits.New("decompressed bytes of feed file "+d.name, d.max, "bytes", updater.KeyMaxFileBytes)
	}
	if int64(len(p)) > d.max-d.n {
		p = p[:d.max-d.n]
	}
	n, err := d.r.Read(p)
	d.n += int64(n)
	return n, err
}

// read reads one file, appending its records to recs.
func read(ctx context.Context, r io.Reader, name string, lim updater.Limits, seen map[string]bool, sk skips, recs *[]vuln.Record) error {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	if head, _ := br.Peek(2); isGzip(head) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(&decompressed{r: zr, max: lim.FileBytes, name: name}, 64<<10)
	}
	var (
		rows     []row
		date     string
		col      = map[string]int{}
		ncols    int
		header   bool
		lineNo   int
		idCol    int
		scoreCol int
		pctCol   int
	)
	for {
		line, err := readLine(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", lineNo+1, err)
		}
		lineNo++
		if lineNo%8192 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if len(line) == 0 {
			continue
		}
		if !header {
			if line[0] == '#' {
				if d := scoreDate(line); d != "" {
					date = d
				}
				continue
			}
			for i, c := range strings.Split(string(line), ",") {
				col[strings.ToLower(strings.TrimSpace(c))] = i
			}
			var ok1, ok2, ok3 bool
			idCol, ok1 = col["cve"]
			scoreCol, ok2 = col["epss"]
			pctCol, ok3 = col["percentile"]
			if !ok1 || !ok2 || !ok3 {
				return fmt.Errorf("line %d: header %q lacks a cve, epss or percentile column", lineNo, truncate(line))
			}
			ncols = len(col)
			header = true
			continue
		}
		fields := bytes.Split(line, []byte(","))
		if len(fields) < ncols {
			sk[SkipShortRow]++
			continue
		}
		id, ok := vuln.CVEID(string(fields[idCol]))
		if !ok {
			sk[SkipBadID]++
			continue
		}
		score, ok1 := probability(fields[scoreCol])
		pct, ok2 := probability(fields[pctCol])
		if !ok1 || !ok2 {
			sk[SkipBadScore]++
			continue
		}
		if seen[id] {
			sk[SkipDuplicateCVE]++
			continue
		}
		if len(*recs)+len(rows) >= lim.Records {
			return lim.RecordsError("rows of the EPSS CSV " + name)
		}
		seen[id] = true
		rows = append(rows, row{id: id, score: score, pct: pct})
	}
	if !header {
		return errors.New("no header line (cve,epss,percentile)")
	}
	// The rows are gathered compactly (40 bytes each) and the records,
	// ten times larger, made once at their final count: growing a slice of
	// records row by row would copy it again and again.
	*recs = slices.Grow(*recs, len(rows))
	var modified time.Time
	if date != "" {
		modified, _ = time.Parse(time.DateOnly, date)
	}
	scores := make([]vuln.EPSS, len(rows))
	for i, r := range rows {
		scores[i] = vuln.EPSS{Score: r.score, Percentile: r.pct, Date: date}
		*recs = append(*recs, vuln.Record{
			ID:        r.id,
			Ecosystem: vuln.EcosystemEnrichment,
			Package:   r.id,
			Status:    vuln.StatusUnfixed,
			Modified:  modified,
			EPSS:      &scores[i],
		})
	}
	return nil
}

// row is one row kept.
type row struct {
	id         string
	score, pct float64
}

// readLine returns the next line without its end, within MaxLineBytes;
// the slice is valid until the next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > MaxLineBytes {
		return nil, fmt.Errorf("a line longer than %d bytes: not an EPSS CSV", MaxLineBytes)
	}
	if err == io.EOF && len(line) > 0 {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	line = bytes.TrimRight(line, "\r\n")
	return bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")), nil
}

// scoreDate returns the date of a comment line's score_date
// ("#model_version:v2025.03.14,score_date:2025-08-25T12:55:00Z" →
// "2025-08-25"), or "".
func scoreDate(line []byte) string {
	for _, kv := range strings.Split(strings.TrimPrefix(string(line), "#"), ",") {
		k, v, ok := strings.Cut(kv, ":")
		if !ok || strings.TrimSpace(k) != "score_date" {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 10 {
			if _, err := time.Parse(time.DateOnly, v[:10]); err == nil {
				return v[:10]
			}
		}
	}
	return ""
}

// probability parses a number in [0,1].
func probability(b []byte) (float64, bool) {
	f, err := strconv.ParseFloat(string(bytes.TrimSpace(b)), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
		return 0, false
	}
	return f, true
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}
