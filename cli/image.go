package cli

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lapps/lapps/client"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/report/template"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/vuln"
)

func (a *app) imageCommand() *cobra.Command {
	img := &cobra.Command{
		Use:   "image",
		Short: "Work with container images",
		Example: `  lapps image security scan oci:/var/cache/images/oci:debian-bookworm-mid
  lapps image security list 127.0.0.1:5000/library/alpine:3.20`,
	}
	sec := &cobra.Command{
		Use:   "security",
		Short: "Scan images for vulnerabilities and show their numbered scans",
		Long: `Scans of an image are numbered 1, 2, 3 … per image name. "scan" records a
new scan, "list" shows them (newest last), "report" shows one.

IMAGE is a registry reference (docker.io/library/debian:12,
host:5000/repo@sha256:…) or a transport: oci:DIR[:TAG],
oci-archive:FILE[:TAG], docker-archive:FILE, dir:ROOTFS, or an SBOM,
sbom:FILE (CycloneDX or SPDX JSON; see "lapps sbom").`,
		Example: `  lapps image security scan docker.io/library/alpine:3.20
  lapps image security list docker.io/library/alpine:3.20
  lapps image security report docker.io/library/alpine:3.20 -i 1`,
	}
	sec.AddCommand(a.scanCommand(), a.listCommand(), a.reportCommand())
	img.AddCommand(sec)
	return img
}

// findingFlags are the flags that shape and judge findings.
type findingFlags struct {
	output        string
	template      string
	failOn        string
	ignoreUnfixed bool
	// tmpl is the parsed --template, set by validate.
	tmpl *template.Template
}

func (f *findingFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", "output format: "+strings.Join(report.Formats, ", "))
	cmd.Flags().StringVar(&f.template, "template", "", "with -o template: a Go text/template FILE over the JSON report, or a shipped one: "+shippedTemplates())
	cmd.Flags().StringVar(&f.failOn, "fail-on", "", "exit with code 10 when a vulnerability, configuration finding or secret has this severity or higher (critical, high, medium, low, negligible, unknown)")
	cmd.Flags().BoolVar(&f.ignoreUnfixed, "ignore-unfixed", false, "leave out findings that have no fix yet (unfixed and will-not-fix)")
}

func (f *findingFlags) validate() error {
	if !contains(report.Formats, f.output) {
		return usageError{fmt.Errorf("unknown output format %q (one of %s)", f.output, strings.Join(report.Formats, ", "))}
	}
	t, err := loadTemplate(f.output, f.template)
	if err != nil {
		return err
	}
	f.tmpl = t
	if f.failOn != "" {
		if _, ok := vuln.ParseSeverity(strings.ToLower(f.failOn)); !ok {
			return usageError{fmt.Errorf("--fail-on %q: not a severity (critical, high, medium, low, negligible, unknown)", f.failOn)}
		}
	}
	return nil
}

// render filters, writes and judges a report.
func (a *app) render(r *report.Report, f *findingFlags) error {
	if f.ignoreUnfixed {
		kept := r.Vulnerabilities[:0:0]
		for _, v := range r.Vulnerabilities {
			if v.Status != vuln.StatusUnfixed && v.Status != vuln.StatusWontFix {
				kept = append(kept, v)
			}
		}
		r.Vulnerabilities = kept
		r.Summarize()
	}
	if f.tmpl != nil {
		if err := f.tmpl.Execute(a.stdout, r); err != nil {
			return err
		}
	} else if err := report.Write(a.stdout, r, f.output); err != nil {
		return err
	}
	if f.failOn != "" {
		min, _ := vuln.ParseSeverity(strings.ToLower(f.failOn))
		if msg := failOnCount(r, min); msg != "" {
			return exitError{code: ExitFindings, err: fmt.Errorf("%s: %s at or above %s", r.Image, msg, min)}
		}
	}
	return nil
}

func (a *app) scanCommand() *cobra.Command {
	var ff findingFlags
	var platform string
	var insecure bool
	cmd := &cobra.Command{
		Use:   "scan IMAGE",
		Short: "Scan an image and record a new numbered scan",
		Long: `Reads the image's manifest, indexes every layer not indexed before (each
layer is read once, ever), matches the packages against the current
vulnerability data, and records scan number N for the image.`,
		Example: `  lapps image security scan docker.io/library/debian:12
  lapps image security scan oci:/path/layout:debian-bookworm-mid -o json
  lapps image security scan 127.0.0.1:5000/library/alpine:3.20 --fail-on high --ignore-unfixed
  lapps image security scan docker-archive:image.tar
  lapps image security scan dir:/mnt/rootfs
  lapps image security scan --platform linux/arm64 docker.io/library/alpine:3.20 -c lapps.yaml`,
		Args: exactArgs(1, "IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ff.validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			svc, err := a.service(ctx)
			if err != nil {
				return err
			}
			if _, remote := svc.(*client.Client); remote && insecure {
				return usageError{errors.New("--insecure: a lapps server decides insecure access per registry from its own configuration (registries: HOST: insecure: true), never from its callers")}
			}
			if platform == "" {
				platform = a.cfg.Platform
			}
			ref := args[0]
			req := service.ScanRequest{
				Image: ref, Platform: platform,
				Insecure:    insecure || a.insecureFor(ref),
				Credentials: a.cfg.Credentials(),
			}
			var p *progress
			if a.isTerminal {
				p = newProgress(a.stderr)
				req.Progress = p.update
			}
			r, err := svc.ScanImage(ctx, req)
			if p != nil {
				p.finish()
			}
			if err != nil {
				return err
			}
			return a.render(r, &ff)
		},
	}
	ff.register(cmd)
	cmd.Flags().StringVar(&platform, "platform", "", "os/arch[/variant] to scan in a multi-platform image (default: the host's)")
	cmd.Flags().BoolVar(&insecure, "insecure", false, "allow plain HTTP and unverified TLS for the registry")
	return cmd
}

// insecureFor reports whether the configuration marks ref's registry
// insecure.
func (a *app) insecureFor(ref string) bool {
	ref = strings.TrimPrefix(ref, "docker://")
	for host, r := range a.cfg.Registries {
		if r.Insecure && strings.HasPrefix(ref, host+"/") {
			return true
		}
	}
	return false
}

func (a *app) listCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list IMAGE",
		Short: "List the numbered scans of an image, newest last",
		Example: `  lapps image security list docker.io/library/debian:12
  lapps image security list oci:/path/layout:debian-bookworm-mid -o json`,
		Args: exactArgs(1, "IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return usageError{fmt.Errorf("unknown output format %q (table or json)", output)}
			}
			svc, err := a.service(cmd.Context())
			if err != nil {
				return err
			}
			scans, err := svc.ListScans(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, scans)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SCAN\tTIME\tMANIFEST\tPACKAGES\tCRITICAL\tHIGH\tMEDIUM\tLOW\tNEGLIGIBLE\tUNKNOWN")
			for _, s := range scans {
				v := s.Vulnerabilities
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", s.Index, s.ScannedAt.UTC().Format("2006-01-02 15:04:05Z"),
					shortDigest(s.ManifestDigest), s.Packages, v["critical"], v["high"], v["medium"], v["low"], v["negligible"], v["unknown"])
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json")
	return cmd
}

func (a *app) reportCommand() *cobra.Command {
	var ff findingFlags
	var index int
	cmd := &cobra.Command{
		Use:   "report IMAGE",
		Short: "Show one scan of an image (the latest, matched against current data, without -i)",
		Long: `Without -i, shows the latest scan's packages matched against the current
vulnerability data, without reading the image again. With -i N, shows scan N
exactly as it was recorded.`,
		Example: `  lapps image security report docker.io/library/debian:12
  lapps image security report docker.io/library/debian:12 -i 1 -o json
  lapps image security report oci:/path/layout:debian-bookworm-mid --fail-on critical
  lapps image security report docker.io/library/debian:12 -o sarif > lapps.sarif
  lapps image security report docker.io/library/debian:12 -o openvex
  lapps image security report docker.io/library/debian:12 -o template --template @markdown`,
		Args: exactArgs(1, "IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ff.validate(); err != nil {
				return err
			}
			if index < 0 || (index == 0 && cmd.Flags().Changed("index")) {
				return usageError{fmt.Errorf("-i %d: scan indexes start at 1 (leave -i out for the latest scan matched against current data)", index)}
			}
			if strings.Trim(args[0], "0123456789") == "" {
				return usageError{fmt.Errorf("%s takes IMAGE, not the number %s; a scan number goes after -i: `%s IMAGE -i %s`", cmd.CommandPath(), args[0], cmd.CommandPath(), args[0])}
			}
			svc, err := a.service(cmd.Context())
			if err != nil {
				return err
			}
			r, err := svc.Report(cmd.Context(), args[0], index)
			if err != nil {
				return err
			}
			return a.render(r, &ff)
		},
	}
	ff.register(cmd)
	indexFlag(cmd, &index, "scan number to show (default: the latest, matched against current data)", "lapps image security list IMAGE", "the image is the argument")
	return cmd
}

// loadTemplate checks --template against -o and parses it: required with
// -o template, refused with any other format; a template that does not
// parse is a usage error naming its line.
func loadTemplate(output, spec string) (*template.Template, error) {
	switch {
	case output == "template" && spec == "":
		return nil, usageError{fmt.Errorf("-o template needs --template FILE (or one of %s)", shippedTemplates())}
	case output != "template" && spec != "":
		return nil, usageError{fmt.Errorf("--template goes with -o template, not -o %s", output)}
	case spec == "":
		return nil, nil
	}
	t, err := template.Load(spec)
	if err != nil {
		return nil, usageError{err}
	}
	return t, nil
}

func shippedTemplates() string {
	return "@" + strings.Join(template.Shipped, ", @")
}

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s takes %s (see `%s --help`)", cmd.CommandPath(), names, cmd.CommandPath())}
		}
		return nil
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func shortDigest(d string) string {
	if alg, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return d
}

// failOnCount says what --fail-on counts in r at severity min or higher
// ("3 finding(s), 1 secret(s)"), or "" when nothing reaches it.
func failOnCount(r *report.Report, min vuln.Severity) string {
	var parts []string
	if n := r.AtOrAbove(min); n > 0 {
		parts = append(parts, fmt.Sprintf("%d finding(s)", n))
	}
	config, secrets := r.ChecksAtOrAbove(min)
	if config > 0 {
		parts = append(parts, fmt.Sprintf("%d configuration finding(s)", config))
	}
	if secrets > 0 {
		parts = append(parts, fmt.Sprintf("%d secret(s)", secrets))
	}
	return strings.Join(parts, ", ")
}
