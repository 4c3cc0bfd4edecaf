package image

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
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
// docker-archive:, dir:) to absolute paths under one of dirs, symbolic
// links resolved; with no dirs, every local transport is refused, which
// is what a server does unless configured otherwise
// (server.local_images). Without this option nothing is restricted: the
// command line opens what its user names.
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
	for _, t := range []string{prefixOCIArchive, prefixOCI, prefixDockerArchive, prefixDir} {
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
// refuse a request at once; Open checks again, symbolic links resolved.
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

// checkLocalResolved checks the path a local transport opens, with its
// symbolic links resolved, against the roots (also resolved).
func checkLocalResolved(name, path string, roots []string) error {
	if roots == nil {
		return nil
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		if os.IsNotExist(err) {
			return statError(name, err)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	for _, r := range roots {
		rr, err := filepath.EvalSymlinks(r)
		if err != nil {
			continue
		}
		if real == rr || strings.HasPrefix(real, strings.TrimSuffix(rr, string(filepath.Separator))+string(filepath.Separator)) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s resolves to %s, outside server.local_images", ErrForbidden, name, real)
}
