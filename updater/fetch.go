package updater

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrTooLarge is returned (wrapped) when a download exceeds its size cap.
var ErrTooLarge = errors.New("download exceeds the size cap")

// Feed is a fetched feed, ready for a Parser. Close removes its temporary
// files.
type Feed struct {
	// FS holds the feed. For URLs: each download under a name derived from
	// its URL path (see feedNames), a single download under the last
	// element of its path ("all.zip", "json"); a download that is a zip
	// archive (by content) is replaced by the archive's tree, which is
	// the root itself for a single URL. For a Path: the directory, the
	// zip archive's tree, or the one file under its base name.
	FS fs.FS
	// Validators are the HTTP validators to send next time, keyed
	// "etag <url>" and "last-modified <url>".
	Validators map[string]string
	// Fingerprint is a digest of the feed's content (sha256 of each
	// file, combined with the names and the source type), so that the
	// same content fetched without validators is recognised.
	Fingerprint string
	// Unchanged is true when every URL answered 304 Not Modified; FS is
	// then nil and Fingerprint empty.
	Unchanged bool
	// Bytes is the number of bytes downloaded or read.
	Bytes int64

	closers []func() error
}

// Close releases the feed's open files and removes its temporary files.
func (f *Feed) Close() error {
	var errs []error
	for i := len(f.closers) - 1; i >= 0; i-- {
		if err := f.closers[i](); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	f.closers = nil
	return errors.Join(errs...)
}

func validatorKeys(u string) (etag, lastMod string) { return "etag " + u, "last-modified " + u }

// Fetch fetches the feed of src: its URLs with HTTP, conditionally when
// prev holds validators from the previous run, or its local Path. The
// caller closes the returned feed.
//
// Every URL is fetched with If-None-Match / If-Modified-Since when prev
// has validators for it; when all answer 304 the feed is Unchanged. When
// only some do, those are fetched again unconditionally, since a parser
// needs the whole feed. Network errors, 5xx and 429 answers are retried
// with exponential backoff (a Retry-After header sets the delay);
// downloads larger than the cap are an error wrapping ErrTooLarge.
func Fetch(ctx context.Context, src Source, prev map[string]string, opts ...Option) (*Feed, error) {
	o := newOptions(opts)
	if src.MaxBytes > 0 {
		o.maxBytes = src.MaxBytes
	}
	feed := &Feed{}
	var err error
	switch {
	case src.Path != "" && len(src.URLs) > 0:
		err = fmt.Errorf("source %q has both urls and path", src.Name)
	case src.Path != "":
		err = feed.local(src)
	case len(src.URLs) > 0:
		if o.force {
			prev = nil
		}
		err = feed.remote(ctx, o, src, prev)
	default:
		err = fmt.Errorf("source %q has neither urls nor path", src.Name)
	}
	if err != nil {
		_ = feed.Close()
		return nil, fmt.Errorf("fetch %s: %w", src.Name, err)
	}
	return feed, nil
}

// download is one fetched URL.
type download struct {
	url      string
	name     string
	file     string // spooled body
	size     int64
	sum      string // hex sha256 of the body
	notMod   bool
	etag     string
	lastMod  string
	modified time.Time
}

func (f *Feed) remote(ctx context.Context, o *options, src Source, prev map[string]string) error {
	paths := make([][]string, len(src.URLs))
	hosts := make([]string, len(src.URLs))
	for i, raw := range src.URLs {
		u, err := url.Parse(raw)
		if err != nil {
			return fmt.Errorf("url %q: %w", raw, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("url %q: scheme must be http or https", raw)
		}
		for _, e := range strings.Split(u.Path, "/") {
			if e != "" && e != "." && e != ".." {
				paths[i] = append(paths[i], e)
			}
		}
		hosts[i] = u.Host
		if len(paths[i]) == 0 {
			paths[i] = []string{u.Host}
		}
	}
	names := feedNames(paths, hosts)

	downloads := make([]*download, len(src.URLs))
	allNotModified := true
	for i, u := range src.URLs {
		etagKey, lmKey := validatorKeys(u)
		d, err := f.get(ctx, o, u, prev[etagKey], prev[lmKey])
		if err != nil {
			return err
		}
		d.name = names[i]
		downloads[i] = d
		allNotModified = allNotModified && d.notMod
	}
	f.Validators = map[string]string{}
	for _, d := range downloads {
		etagKey, lmKey := validatorKeys(d.url)
		if d.etag != "" {
			f.Validators[etagKey] = d.etag
		}
		if d.lastMod != "" {
			f.Validators[lmKey] = d.lastMod
		}
	}
	if allNotModified {
		f.Unchanged = true
		return nil
	}
	// Some URLs changed: fetch the unchanged ones again in full.
	for i, d := range downloads {
		if !d.notMod {
			continue
		}
		nd, err := f.get(ctx, o, d.url, "", "")
		if err != nil {
			return err
		}
		nd.name = d.name
		downloads[i] = nd
		etagKey, lmKey := validatorKeys(d.url)
		delete(f.Validators, etagKey)
		delete(f.Validators, lmKey)
		if nd.etag != "" {
			f.Validators[etagKey] = nd.etag
		}
		if nd.lastMod != "" {
			f.Validators[lmKey] = nd.lastMod
		}
	}

	tree := newTreeFS()
	sums := make([]string, len(downloads))
	for i, d := range downloads {
		f.Bytes += d.size
		sums[i] = d.name + "\x00" + d.sum
		n, err := f.nodeFor(d.file, d.size, d.modified)
		if err != nil {
			return fmt.Errorf("%s: %w", d.url, err)
		}
		name := d.name
		if len(downloads) == 1 && n.sub != nil {
			name = "."
		}
		if !tree.add(name, n) {
			return fmt.Errorf("%s: name %q clashes in the feed", d.url, name)
		}
	}
	f.FS = tree
	f.Fingerprint = fingerprint(src.Type, sums)
	return nil
}

// nodeFor returns the tree node of a file: a mounted zip tree when the
// file is a zip archive, else the file.
func (f *Feed) nodeFor(file string, size int64, mod time.Time) (*node, error) {
	isZip, err := sniffZip(file)
	if err != nil {
		return nil, err
	}
	if !isZip {
		return &node{file: file, size: size, modTime: mod}, nil
	}
	zf, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	f.closers = append(f.closers, zf.Close)
	zr, err := zip.NewReader(zf, size)
	if err != nil {
		return nil, fmt.Errorf("open zip archive: %w", err)
	}
	return &node{sub: zr, modTime: mod}, nil
}

// sniffZip reports whether a file starts like a zip archive (a local file
// header, or the end record of an empty archive).
func sniffZip(file string) (bool, error) {
	fh, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer fh.Close()
	var magic [4]byte
	n, err := io.ReadFull(fh, magic[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false, err
	}
	m := magic[:n]
	return bytes.Equal(m, []byte("PK\x03\x04")) || bytes.Equal(m, []byte("PK\x05\x06")), nil
}

// fingerprint combines the per-file digests with the source type.
func fingerprint(typ string, sums []string) string {
	sort.Strings(sums)
	h := sha256.New()
	fmt.Fprintf(h, "lapps-feed-1\x00%s\n", typ)
	for _, s := range sums {
		fmt.Fprintf(h, "%s\n", s)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// statusError is an HTTP answer other than 200 and 304.
type statusError struct {
	url        string
	code       int
	retryAfter time.Duration
}

func (e *statusError) Error() string {
	return fmt.Sprintf("GET %s: %d %s", e.url, e.code, http.StatusText(e.code))
}

func (e *statusError) retryable() bool {
	return e.code == http.StatusTooManyRequests || e.code == http.StatusRequestTimeout || e.code >= 500
}

// get downloads one URL with retries.
func (f *Feed) get(ctx context.Context, o *options, u, etag, lastMod string) (*download, error) {
	delay := o.backoff
	for attempt := 1; ; attempt++ {
		d, err := f.try(ctx, o, u, etag, lastMod)
		if err == nil {
			if attempt > 1 {
				o.logger.Debug("download succeeded after retries", "url", u, "attempts", attempt)
			}
			return d, nil
		}
		wait, retry := retryDelay(ctx, err, delay, o)
		if !retry || attempt >= o.attempts {
			if attempt > 1 {
				return nil, fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return nil, err
		}
		o.logger.Warn("download failed, retrying", "url", u, "attempt", attempt, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (while waiting to retry after: %v)", ctx.Err(), err)
		case <-t.C:
		}
		delay = min(delay*2, o.maxBackoff)
	}
}

// retryDelay decides whether err is worth another attempt and how long to
// wait first: the backoff delay with jitter, or the server's Retry-After.
func retryDelay(ctx context.Context, err error, delay time.Duration, o *options) (time.Duration, bool) {
	if ctx.Err() != nil || errors.Is(err, ErrTooLarge) {
		return 0, false
	}
	var se *statusError
	if errors.As(err, &se) {
		if !se.retryable() {
			return 0, false
		}
		if se.retryAfter > 0 {
			return min(se.retryAfter, o.maxRetryWait), true
		}
	}
	var fe *fileError
	if errors.As(err, &fe) {
		return 0, false
	}
	// Full jitter on the upper half keeps replicas from retrying in step.
	if delay > 0 {
		delay = delay/2 + rand.N(delay/2+1)
	}
	return delay, true
}

// fileError is a local failure (temporary file) that a retry won't fix.
type fileError struct{ err error }

func (e *fileError) Error() string { return e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }

// try makes one attempt at downloading u.
func (f *Feed) try(ctx context.Context, o *options, u, etag, lastMod string) (*download, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, &fileError{fmt.Errorf("request %s: %w", u, err)}
	}
	req.Header.Set("User-Agent", o.userAgent)
	conditional := etag != "" || lastMod != ""
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if lastMod != "" {
		req.Header.Set("If-Modified-Since", lastMod)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	d := &download{url: u, etag: resp.Header.Get("ETag"), lastMod: resp.Header.Get("Last-Modified")}
	switch {
	case resp.StatusCode == http.StatusNotModified && conditional:
		d.notMod = true
		// A 304 may omit validators; keep the ones that were sent.
		if d.etag == "" {
			d.etag = etag
		}
		if d.lastMod == "" {
			d.lastMod = lastMod
		}
		return d, nil
	case resp.StatusCode != http.StatusOK:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil, &statusError{url: u, code: resp.StatusCode, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	if resp.ContentLength > o.maxBytes {
		return nil, fmt.Errorf("GET %s: %d bytes: %w (%d bytes)", u, resp.ContentLength, ErrTooLarge, o.maxBytes)
	}
	if t, err := http.ParseTime(d.lastMod); err == nil {
		d.modified = t
	}
	tmp, err := os.CreateTemp(o.tempDir, "lapps-feed-*")
	if err != nil {
		return nil, &fileError{fmt.Errorf("spool %s: %w", u, err)}
	}
	name := tmp.Name()
	keep := false
	defer func() {
		if !keep {
			_ = os.Remove(name)
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(resp.Body, o.maxBytes+1))
	if cerr := tmp.Close(); err == nil && cerr != nil {
		return nil, &fileError{fmt.Errorf("spool %s: %w", u, cerr)}
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, &fileError{fmt.Errorf("spool %s: %w", u, err)}
		}
		return nil, fmt.Errorf("GET %s: reading body: %w", u, err)
	}
	if n > o.maxBytes {
		return nil, fmt.Errorf("GET %s: over %d bytes: %w", u, o.maxBytes, ErrTooLarge)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return nil, fmt.Errorf("GET %s: got %d of %d bytes: %w", u, n, resp.ContentLength, io.ErrUnexpectedEOF)
	}
	keep = true
	f.closers = append(f.closers, func() error { return os.Remove(name) })
	d.file, d.size, d.sum = name, n, hex.EncodeToString(h.Sum(nil))
	return d, nil
}

// parseRetryAfter parses a Retry-After value: delay seconds or an HTTP
// date. It returns 0 when absent or unparsable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// local opens a source's Path: a directory, a zip archive or one file.
func (f *Feed) local(src Source) error {
	p := src.Path
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		dir := os.DirFS(p)
		sums, n, err := hashTree(dir)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		f.FS, f.Bytes, f.Fingerprint = dir, n, fingerprint(src.Type, sums)
		return nil
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file or directory", p)
	}
	sum, err := hashFile(p)
	if err != nil {
		return err
	}
	n, err := f.nodeFor(p, fi.Size(), fi.ModTime())
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	tree := newTreeFS()
	name := filepath.Base(p)
	if n.sub != nil {
		name = "."
	}
	if !fs.ValidPath(name) || !tree.add(name, n) {
		return fmt.Errorf("%s: unusable file name", p)
	}
	f.FS, f.Bytes = tree, fi.Size()
	f.Fingerprint = fingerprint(src.Type, []string{name + "\x00" + sum})
	return nil
}

func hashFile(p string) (string, error) {
	fh, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashTree digests every regular file of a directory tree (the files a
// parser reads), with its path.
func hashTree(fsys fs.FS) ([]string, int64, error) {
	var sums []string
	var total int64
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fh, err := fsys.Open(p)
		if err != nil {
			return err
		}
		defer fh.Close()
		h := sha256.New()
		n, err := io.Copy(h, fh)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		total += n
		sums = append(sums, path.Clean(p)+"\x00"+hex.EncodeToString(h.Sum(nil)))
		return nil
	})
	return sums, total, err
}
