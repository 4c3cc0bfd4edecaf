package image

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrForbidden marks an image the configuration does not let lapps open:
// a local transport outside the allowed directories, or a registry whose
// address is internal (loopback, private, link-local, metadata) and not
// allowed. Test it with errors.Is.
var ErrForbidden = errors.New("forbidden")

// WithLocalRoots restricts the local transports (oci:, oci-archive:,
// docker-archive:, dir:) to absolute paths under one of dirs; with no
// dirs, every local transport is refused, which is what a server does
// unless configured otherwise (server.local_images). Every file is then
// opened through the os.Root of the allowed directory that holds it, so
// that no symbolic link or ".." in the path, in an OCI layout or in a
// root file system leads out of it (ErrForbidden), checked by the open
// itself rather than beforehand. It also stops Open and NormalizeName
// from looking at the local file system for a reference without a
// transport prefix. Without this option nothing is restricted: the
// command line opens what its user names (an OCI layout's blobs still
// cannot lead out of the layout).
func WithLocalRoots(dirs []string) Option {
	return func(o *options) {
		if dirs == nil {
			dirs = []string{}
		}
		o.localRoots = dirs
	}
}

// WithRegistryAllow switches the registry network guard on: every
// connection to a registry (and to the token and blob-storage hosts it
// sends lapps to) is refused when the address dialled is loopback,
// private, link-local, unique-local, shared (CGNAT), unspecified,
// multicast or otherwise not public, unless the host (as named, before
// resolution: "host", "host:port") or the address (a CIDR "10.0.0.0/8",
// or an IP) is listed in allow. The check happens at dial time on the
// address actually dialled, so a name that resolves differently later
// (DNS rebinding) cannot get past it. A server sets it
// (server.registries.allow); the command line does not.
//
// With a proxy in the environment (HTTPS_PROXY, HTTP_PROXY), the proxy is
// what is dialled, so it must itself be public or listed, and each
// request's destination is resolved and checked before it is handed to
// the proxy (netGuard.proxy): refused, nothing is sent. The proxy
// resolves the name again, so there the check is at resolution time, not
// dial time; give the proxy its own egress rules where DNS rebinding
// through it matters. The guard applies to the transport Open builds; one
// given with WithTransport is the caller's to guard.
func WithRegistryAllow(allow []string) Option {
	return func(o *options) {
		g := &netGuard{hosts: map[string]bool{}}
		for _, a := range allow {
			a = strings.TrimSpace(a)
			if p, err := netip.ParsePrefix(a); err == nil {
				g.prefixes = append(g.prefixes, p.Masked())
				continue
			}
			if ip, err := netip.ParseAddr(strings.Trim(a, "[]")); err == nil {
				g.prefixes = append(g.prefixes, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
				continue
			}
			g.hosts[strings.ToLower(a)] = true
		}
		o.guard = g
	}
}

// netGuard is the registry network guard of WithRegistryAllow.
type netGuard struct {
	hosts    map[string]bool
	prefixes []netip.Prefix
}

// hostAllowed reports whether addr ("host:port") is allowed by name.
func (g *netGuard) hostAllowed(addr string) bool {
	addr = strings.ToLower(addr)
	if g.hosts[addr] {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	return err == nil && g.hosts[host]
}

// ipAllowed reports whether ip is public, or listed.
func (g *netGuard) ipAllowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range g.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return PublicAddr(ip)
}

// dialContext wraps d: a connection to a host not allowed by name is
// checked, once its address is resolved, in the dialer's Control hook.
func (g *netGuard) dialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	checked := *d
	checked.Control = func(network, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("%w: dial %s: not an IP address", ErrForbidden, address)
		}
		if !g.ipAllowed(ip) {
			return fmt.Errorf("%w: %s is an internal address; a registry there must be listed in server.registries.allow", ErrForbidden, ip)
		}
		return nil
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if g.hostAllowed(addr) {
			return d.DialContext(ctx, network, addr)
		}
		conn, err := checked.DialContext(ctx, network, addr)
		if err != nil && errors.Is(err, ErrForbidden) {
			return nil, fmt.Errorf("registry %s: %w", addr, err)
		}
		return conn, err
	}
}

// proxy wraps the transport's choice of proxy. Through a proxy, lapps
// dials the proxy, not the registry: the dial-time check sees the proxy's
// address (so a proxy on an internal address must itself be listed in
// server.registries.allow), and the proxy resolves and dials the
// destination. So, before a request is sent through a proxy, its
// destination host is checked here: allowed by name, or every address it
// resolves to allowed; otherwise the request fails with ErrForbidden and
// nothing is sent. The proxy resolves the name again, so for a name (not
// an IP address) this check happens at resolution time, not at dial
// time: a deployment that must also defeat DNS rebinding through its
// proxy gives the proxy its own egress rules. Requests that go direct are
// checked at dial time as always.
func (g *netGuard) proxy(next func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	if next == nil {
		return nil
	}
	return func(req *http.Request) (*url.URL, error) {
		u, err := next(req)
		if err != nil || u == nil {
			return u, err
		}
		if err := g.checkDestination(req.Context(), req.URL); err != nil {
			return nil, err
		}
		return u, nil
	}
}

// checkDestination checks the host of u, resolved, as the dial-time check
// would check its address.
func (g *netGuard) checkDestination(ctx context.Context, u *url.URL) error {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	if g.hostAllowed(net.JoinHostPort(host, port)) {
		return nil
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		if addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
			return fmt.Errorf("%w: registry %s: cannot check the address of a destination reached through a proxy: %w", ErrForbidden, host, err)
		}
	}
	for _, ip := range addrs {
		if !g.ipAllowed(ip) {
			return fmt.Errorf("%w: registry %s: %s is an internal address; a registry there must be listed in server.registries.allow (checked before sending through the proxy)", ErrForbidden, host, ip.Unmap())
		}
	}
	return nil
}

// nonPublic are the ranges PublicAddr refuses beyond what netip's
// predicates cover.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (CGNAT)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
}

// PublicAddr reports whether ip is a public unicast address: not
// loopback, private (RFC 1918, unique-local fc00::/7, which holds AWS's
// fd00:ec2::254 metadata address), link-local (169.254/16 with the cloud
// metadata address 169.254.169.254, fe80::/10), unspecified, multicast,
// shared (100.64/10) or reserved. IPv4 addresses embedded in IPv6
// (mapped, NAT64 64:ff9b::/96, 6to4 2002::/16) are judged as IPv4.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.Is6() {
		b := ip.As16()
		switch {
		case netip.MustParsePrefix("64:ff9b::/96").Contains(ip):
			return PublicAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case netip.MustParsePrefix("2002::/16").Contains(ip):
			return PublicAddr(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// localTransport returns the transport prefix and the rest of ref when ref
// names a local transport.
func localTransport(ref string) (prefix, rest string, ok bool) {
	for _, t := range []string{prefixOCIArchive, prefixOCI, prefixDockerArchive, prefixDir, prefixSBOM} {
		if r, ok := strings.CutPrefix(ref, t); ok {
			return t, r, true
		}
	}
	return "", "", false
}

// CheckLocal reports whether ref may be opened under the local roots of
// WithLocalRoots (nil: everything may): a registry reference always may;
// a local transport only with an absolute path under one of roots. It
// looks at the reference alone, touching no file, so that a server can
// refuse a request at once. Open then opens every file through the
// os.Root of the allowed directory, so that no symbolic link or ".."
// leads out of it, at the time of the open rather than by a check that
// could be raced.
func CheckLocal(ref string, roots []string) error {
	if roots == nil {
		return nil
	}
	t, rest, ok := localTransport(ref)
	if !ok {
		return nil
	}
	if !filepath.IsAbs(rest) {
		return fmt.Errorf("%w: %s%s: local images must be named by an absolute path under server.local_images", ErrForbidden, t, rest)
	}
	clean := filepath.Clean(rest)
	for _, r := range roots {
		if r = filepath.Clean(r); r != "" && (clean == r || strings.HasPrefix(clean, strings.TrimSuffix(r, string(filepath.Separator))+string(filepath.Separator))) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s%s: local images are only read under server.local_images", ErrForbidden, t, rest)
}
