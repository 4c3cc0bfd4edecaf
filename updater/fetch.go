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
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/redact"
)

// ErrTooLarge is returned (wrapped) when a download exceeds its size cap;
// the same error is a *limits.Error naming max_bytes.
var ErrTooLarge = errors.New("download exceeds the size cap")

// tooLarge is the error of a download over its cap: a *limits.Error that
// also matches ErrTooLarge.
type tooLarge struct{ err *limits.Error }

func (e tooLarge) Error() string { return e.err.Error() }
func (e tooLarge) Unwrap() error { return e.err }

// Is matches ErrTooLarge; errors.Is(err, limits.ErrExceeded) goes through
// Unwrap.
func (e tooLarge) Is(target error) bool { return target == ErrTooLarge }

func tooLargeError(u string, n int64) error {
	return tooLarge{limits.New("download "+redact.URL(u), n, "bytes", KeyMaxBytes)}
}

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
	// FS reads within the source's Limits (LimitsOf returns them): a
	// file read past Limits.FileBytes, or the feed past
	// Limits.FeedBytes, is a *limits.Error, whatever sizes the files
	// claim; local files that are not regular (FIFOs, devices) are
	// refused without blocking.
	//
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

// validatorKeys are the keys of a URL's validators in Feed.Validators,
// which are stored with the run: by the URL with its credentials redacted
// (a token in a query never reaches the database).
func validatorKeys(u string) (etag, lastMod string) {
	u = redact.URL(u)
	return "etag " + u, "last-modified " + u
}

// Fetch fetches the feed of src: its URLs with HTTP, conditionally when
// prev holds validators from the previous run, or its local Path. The
// caller closes the returned feed.
//
// Every URL is fetched with If-None-Match / If-Modified-Since when prev
// has validators for it; when all answer 304 the feed is Unchanged. When
// only some do, those are fetched again unconditionally, since a parser
// needs the whole feed. Network errors, 5xx and 429 answers are retried
// with exponential backoff (a Retry-After header sets the delay);
// downloads larger than the cap are an error wrapping ErrTooLarge. The
// bounds of Limits (the source's, then WithLimits, then the defaults)
// apply to the zip archives and local files of the feed here, and to
// every read of the returned FS. URLs in errors and logs are redacted.
func Fetch(ctx context.Context, src Source, prev map[string]string, opts ...Option) (*Feed, error) {
	o := newOptions(opts)
	if src.MaxBytes > 0 {
		o.maxBytes = int64(src.MaxBytes)
	}
	lim := src.Limits().Or(o.limits).Or(DefaultLimits())
	feed := &Feed{}
	var err error
	switch {
	case src.Path != "" && len(src.URLs) > 0:
		err = fmt.Errorf("source %q has both urls and path", src.Name)
	case src.Path != "":
		err = feed.local(src, lim)
	case len(src.URLs) > 0:
		if o.force {
			prev = nil
		}
		err = feed.remote(ctx, o, src, prev, lim)
	default:
		err = fmt.Errorf("source %q has neither urls nor path", src.Name)
	}
	if err != nil {
		_ = feed.Close()
		return nil, redact.Error(fmt.Errorf("fetch %s: %w", src.Name, err))
	}
	if feed.FS != nil {
		feed.FS = newGuardFS(feed.FS, lim)
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

func (f *Feed) remote(ctx context.Context, o *options, src Source, prev map[string]string, lim Limits) error {
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
		n, err := f.nodeFor(d.file, d.name, d.size, d.modified, lim)
		if err != nil {
			return fmt.Errorf("%s: %w", redact.URL(d.url), err)
		}
		name := d.name
		if len(downloads) == 1 && n.sub != nil {
			name = "."
		}
		if !tree.add(name, n) {
			return fmt.Errorf("%s: name %q clashes in the feed", redact.URL(d.url), name)
		}
	}
	f.FS = tree
	f.Fingerprint = fingerprint(src.Type, sums)
	return nil
}

// nodeFor returns the tree node of a file: a mounted zip tree when the
// file is a zip archive (its central directory bounded first, see
// checkZipDirectory), else the file. name is the file's name in the feed.
func (f *Feed) nodeFor(file, name string, size int64, mod time.Time, lim Limits) (*node, error) {
	zf, fi, err := openRegular(file)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		zf.Close()
		return nil, fmt.Errorf("%s: a directory where a file was expected", file)
	}
	isZip, err := sniffZip(zf)
	if err != nil || !isZip {
		zf.Close()
		return &node{file: file, size: size, modTime: mod}, err
	}
	f.closers = append(f.closers, zf.Close)
	// The size of the open file, not the one the caller saw: the file
	// checked is the file read.
	if err := checkZipDirectory(zf, fi.Size(), name, lim); err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(zf, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("open zip archive: %w", err)
	}
	return &node{sub: zr, modTime: mod}, nil
}

// sniffZip reports whether a file starts like a zip archive (a local file
// header, or the end record of an empty archive).
func sniffZip(fh io.ReaderAt) (bool, error) {
	var magic [4]byte
	n, err := fh.ReadAt(magic[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
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
	return fmt.Sprintf("GET %s: %d %s", redact.URL(e.url), e.code, http.StatusText(e.code))
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
				o.logger.Debug("download succeeded after retries", "url", redact.URL(u), "attempts", attempt)
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
		o.logger.Info("download failed, retrying", "url", redact.URL(u), "attempt", attempt, "wait", wait, "err", redact.Error(err))
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
	if ctx.Err() != nil || errors.Is(err, ErrTooLarge) || errors.Is(err, limits.ErrExceeded) {
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
	// A host name that does not resolve, or no route to any network (an
	// air-gapped machine), will not change in seconds: fail now rather
	// than after every retry.
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return 0, false
	}
	if errors.Is(err, syscall.ENETUNREACH) {
		return 0, false
	}
	// Full jitter on the upper half keeps replicas from retrying in step.
	if delay > 0 {
		delay = delay/2 + rand.N(delay/2+1)
	}
	return delay, true
}

// transportError makes an HTTP client error one clear clause: the URL is
// said once (net/http's *url.Error repeats it), and a host that does not
// resolve says so in words. The error chain is kept (errors.Is/As still
// find the *net.DNSError and the cause).
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return &hostNotFound{host: dns.Name, err: err}
	}
	return err
}

// hostNotFound is a host name that does not resolve, said in words.
type hostNotFound struct {
	host string
	err  error
}

func (e *hostNotFound) Error() string {
	return "host " + e.host + " not found (no network access, or DNS cannot resolve it)"
}
func (e *hostNotFound) Unwrap() error { return e.err }

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
		return nil, fmt.Errorf("GET %s: %w", u, transportError(err))
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
		return nil, fmt.Errorf("GET %s: Content-Length %d: %w", u, resp.ContentLength, tooLargeError(u, o.maxBytes))
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
		return nil, fmt.Errorf("GET %s: %w", u, tooLargeError(u, o.maxBytes))
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
// Only regular files are read (see openRegular); a directory's files are
// counted against lim.Files and hashed within lim.FileBytes and
// lim.FeedBytes.
func (f *Feed) local(src Source, lim Limits) error {
	p := src.Path
	fh, fi, err := openRegular(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		fh.Close()
		dir := localDirFS(p)
		sums, n, err := hashTree(dir, lim)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		f.FS, f.Bytes, f.Fingerprint = dir, n, fingerprint(src.Type, sums)
		return nil
	}
	h := sha256.New()
	_, err = io.Copy(h, fh)
	fh.Close()
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	name := filepath.Base(p)
	n, err := f.nodeFor(p, name, fi.Size(), fi.ModTime(), lim)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	tree := newTreeFS()
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

// hashTree digests every regular file of a directory tree (the files a
// parser reads), with its path, within the bounds: more than lim.Files
// files, or bytes past lim.FileBytes or lim.FeedBytes, is a
// *limits.Error.
func hashTree(dir fs.FS, lim Limits) ([]string, int64, error) {
	fsys := newGuardFS(dir, lim)
	var sums []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if len(sums) >= lim.Files {
			return limits.New("files of the feed", int64(lim.Files), "files", KeyMaxFiles)
		}
		fh, err := fsys.Open(p)
		if err != nil {
			return err
		}
		defer fh.Close()
		h := sha256.New()
		if _, err := io.Copy(h, fh); err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		sums = append(sums, path.Clean(p)+"\x00"+hex.EncodeToString(h.Sum(nil)))
		return nil
	})
	return sums, fsys.read.Load(), err
}
