#!/usr/bin/python3
"""Independent oracle for lapps' CSAF matching on a Rocky Linux 9 package set.

Usage: rocky_oracle.py FEED.tar.zst PACKAGES [EXTRA.json ...]

FEED is a zstd-compressed tar of CSAF 2.0 documents (github.com/ctrliq/advisories),
read as a stream through `zstd -dc` (nothing is unpacked to disk). PACKAGES is an
image build's package list, one `name|epoch|version|release|arch|...` a line.
EXTRA are more CSAF documents.

Rules (the documented semantics, written independently of lapps' Go code):
  * products: a relationship default_component_of ties a component (named
    NAME-[EPOCH:]VERSION-RELEASE.ARCH, or a bare NAME) to a platform whose
    name is "Rocky Linux[ from CIQ][ 9[.N]][ from CIQ]"; a platform without a
    release counts when the component's release says .el9.
  * fixed: per (advisory id, or CVE for a VEX document; package name) the
    smallest fixed EVR (rpm.labelCompare); an installed package of that name
    older than it is affected.  A VEX document's fixed statement is dropped
    when an advisory fixes the same CVE for the same package.
  * known_affected: affected whatever the version; known_not_affected: not
    affected, listed separately; a statement for (CVE, package) is dropped
    when a VEX or advisory fixed statement fixes that CVE in that package.
Prints "FINDING id package" and "NOTAFFECTED cve package justification"
lines, sorted.
"""
import json
import re
import subprocess
import sys
import tarfile

import rpm

PLATFORM = re.compile(r'^Rocky Linux(?: from CIQ)?(?: (\d+)(?:\.\d+)*)?(?: from CIQ)?$')
ARCHES = {'x86_64', 'noarch', 'src', 'aarch64', 'i686', 'i386', 'i586', 'ppc64le',
          'ppc64', 's390x', 's390', 'armv7hl', 'ppc', 'ia64', 'nosrc'}


def evr_tuple(s):
    epoch, _, vr = s.rpartition(':')
    v, _, r = vr.rpartition('-')
    return (epoch or '0', v, r)


def cmp(a, b):
    return rpm.labelCompare(evr_tuple(a), evr_tuple(b))


def component(s):
    """(name, evr or None) of NAME-[E:]V-R.ARCH or a bare NAME."""
    head, _, arch = s.rpartition('.')
    if arch not in ARCHES:
        return (s, None) if ':' not in s else None
    parts = head.rsplit('-', 2)
    if len(parts) != 3:
        return None
    name, ver, rel = parts
    epoch, _, v = ver.rpartition(':')
    if epoch in ('', '0'):
        return name, v + '-' + rel
    return name, epoch + ':' + v + '-' + rel


def is_rocky9(platform_name, evr):
    m = PLATFORM.match(platform_name.strip())
    if not m:
        return False
    if m.group(1):
        return m.group(1) == '9'
    return evr is not None and re.search(r'\.el9(?!\d)', evr) is not None


def documents(feed, extra):
    p = subprocess.Popen(['zstd', '-dc', feed], stdout=subprocess.PIPE)
    with tarfile.open(fileobj=p.stdout, mode='r|') as t:
        for m in t:
            if m.isfile() and m.name.endswith('.json'):
                d = json.load(t.extractfile(m))
                if isinstance(d, dict) and 'document' in d:
                    yield d
    if p.wait() != 0:
        sys.exit('zstd failed')
    for f in extra:
        with open(f) as fh:
            yield json.load(fh)


def main():
    feed, pkglist, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
    installed = {}
    with open(pkglist) as fh:
        for line in fh:
            f = line.rstrip('\n').split('|')
            if len(f) < 5:
                continue
            name, epoch, ver, rel = f[0], f[1], f[2], f[3]
            evr = ver + '-' + rel if epoch in ('(none)', '', '0') else epoch + ':' + ver + '-' + rel
            installed[name] = evr
    fixes = {}        # (id, name) -> (evr, is_vex, cves)
    statements = {}   # (cve, name) -> (status, justification, is_vex)
    for d in documents(feed, extra):
        doc = d['document']
        vex = doc.get('category') == 'csaf_vex'
        docid = doc.get('tracking', {}).get('id', '')
        names = {}

        def walk(branches):
            for b in branches:
                pr = b.get('product')
                if pr:
                    names[pr['product_id']] = pr.get('name', pr['product_id'])
                walk(b.get('branches', []))
        tree = d.get('product_tree', {})
        walk(tree.get('branches', []))
        rels = {r['full_product_name']['product_id']: r for r in tree.get('relationships', [])
                if r.get('category') == 'default_component_of'}
        for v in d.get('vulnerabilities', []):
            cve = v.get('cve', '')
            flags = {}
            for f in v.get('flags', []):
                for pid in f.get('product_ids', []):
                    flags[pid] = f.get('label', '')
            for status, pids in v.get('product_status', {}).items():
                for pid in pids:
                    r = rels.get(pid)
                    if not r:
                        continue
                    c = component(names.get(r['product_reference'], r['product_reference']))
                    if not c:
                        continue
                    name, evr = c
                    if not is_rocky9(names.get(r['relates_to_product_reference'], ''), evr):
                        continue
                    if status == 'fixed':
                        if evr is None:
                            continue
                        key = (cve if vex else docid, name)
                        old = fixes.get(key)
                        cves = set(old[2]) if old else set()
                        cves.add(cve)
                        if old is None or cmp(evr, old[0]) < 0:
                            fixes[key] = (evr, vex, cves)
                        else:
                            fixes[key] = (old[0], old[1], cves)
                    elif status in ('known_affected', 'known_not_affected'):
                        st = 'affected' if status == 'known_affected' else 'not_affected'
                        key = (cve, name)
                        old = statements.get(key)
                        if old is None or (vex and not old[2]) or vex == old[2]:
                            statements[key] = (st, flags.get(pid, ''), vex)
    advisory_fixes = {(cve, name) for (i, name), (evr, vex, cves) in fixes.items() if not vex for cve in cves}
    out = set()
    for (i, name), (evr, vex, cves) in fixes.items():
        if vex and (i, name) in advisory_fixes:
            continue
        if name in installed and cmp(installed[name], evr) < 0:
            out.add('FINDING %s %s' % (i, name))
    for (cve, name), (st, why, vex) in statements.items():
        if (cve, name) in fixes or (cve, name) in advisory_fixes or name not in installed:
            continue
        if st == 'affected':
            out.add('FINDING %s %s' % (cve, name))
        else:
            out.add('NOTAFFECTED %s %s %s' % (cve, name, why))
    for line in sorted(out):
        print(line)


if __name__ == '__main__':
    main()
