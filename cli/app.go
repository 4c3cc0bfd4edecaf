package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/client"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/report/appformat"
	"github.com/lapps/lapps/report/template"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/vuln"
)

func (a *app) appCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "app",
		Short: "Manage applications: named sets of images deployed into environments under a policy",
		Long: `An app is a named application made of one or more images. "deploy" decides
a deployment into an environment under the policy: section of the -c file
(over --server: the server's policy for that app and environment) and refuses it (exit code 11) when the verdict is fail; every attempt,
accepted or refused, is kept in the app's history. "security scan" scans
every image of the app's current deployments and records app scan N.`,
		Example: `  lapps app create -a shop --image docker.io/library/nginx:1.27 --image docker.io/library/redis:7
  lapps app import -f k8s/shop.yaml
  lapps app deploy -a shop -i docker.io/library/nginx:1.27,docker.io/library/redis:7 --env prod -c policy.yaml
  lapps app history -a shop
  lapps app security scan -a shop -c policy.yaml
  lapps app security report -a shop -i 1`,
	}
	sec := &cobra.Command{
		Use:   "security",
		Short: "Scan applications and show their numbered scans",
		Long: `App scans are numbered 1, 2, 3 … per app. Each scans every image of the
app's current deployments (the latest accepted deployment of each
environment; the app's own images when it was never deployed), records a
new image scan of each, and keeps their indexes and the verdict.`,
		Example: `  lapps app security scan -a shop -c policy.yaml
  lapps app security list -a shop
  lapps app security report -a shop -i 2 -o json`,
	}
	sec.AddCommand(a.appScanCommand(), a.appListScansCommand(), a.appReportCommand())
	cmd.AddCommand(a.appCreateCommand(), a.appImportCommand(), a.appDeployCommand(), a.appListCommand(),
		a.appRemoveCommand(), a.appHistoryCommand(), sec)
	return cmd
}

// apps returns the app service: the server's over --server, else the
// in-process one on the database.
func (a *app) apps(cmd *cobra.Command) (apps.Service, error) {
	svc, err := a.service(cmd.Context())
	if err != nil {
		return nil, err
	}
	if c, ok := svc.(*client.Client); ok {
		return c, nil
	}
	if a.st == nil {
		return nil, fmt.Errorf("applications: no database (%T): %w", svc, service.ErrBadRequest)
	}
	return apps.New(a.st, svc), nil
}

// remotePolicyNotice tells the user, on stderr, that the policy: section
// of their -c file does not decide a deployment or app scan run on a
// server: the server judges with its own configuration.
func (a *app) remotePolicyNotice(svc apps.Service) {
	if _, remote := svc.(*client.Client); !remote || a.configPath == "" || a.cfg == nil || a.cfg.Policy == nil {
		return
	}
	fmt.Fprintf(a.stderr, "lapps: note: the policy: section of %s is not used over --server; the server decides with its own policy (its configuration file)\n", a.configPath)
}

// imageOptions are the settings of the configuration for reading images.
func (a *app) imageOptions() apps.ImageOptions {
	o := apps.ImageOptions{Platform: a.cfg.Platform, Credentials: a.cfg.Credentials()}
	for host, r := range a.cfg.Registries {
		if r.Insecure {
			o.InsecureRegistries = append(o.InsecureRegistries, host)
		}
	}
	return o
}

func checkOutput(output string) error {
	if output != "table" && output != "json" {
		return usageError{fmt.Errorf("unknown output format %q (table or json)", output)}
	}
	return nil
}

// writeJSON writes v as indented JSON: the -o json of every command.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// appName returns -a, or the only app when -a is not given.
func (a *app) appName(cmd *cobra.Command, svc apps.Service, name string) (string, error) {
	if name != "" {
		return name, nil
	}
	list, err := svc.ListApps(cmd.Context())
	if err != nil {
		return "", err
	}
	if len(list) == 1 {
		return list[0].Name, nil
	}
	var names []string
	for _, ap := range list {
		names = append(names, ap.Name)
	}
	if len(names) == 0 {
		return "", usageError{errors.New("-a APP is required, and there are no apps (create one with `lapps app create -a APP`)")}
	}
	return "", usageError{fmt.Errorf("-a APP is required when there is more than one app (%s)", strings.Join(names, ", "))}
}

func (a *app) appCreateCommand() *cobra.Command {
	var name string
	var images []string
	cmd := &cobra.Command{
		Use:   "create -a APP [--image IMAGE ...]",
		Short: "Create an app, optionally with its images",
		Long: `Creates the app named with -a, like every other app command takes it. The
positional form "app create APP" still works but is deprecated.`,
		Example: `  lapps app create -a shop
  lapps app create -a shop --image docker.io/library/nginx:1.27 --image docker.io/library/redis:7
  lapps app create -a shop --image oci:/path/layout:web-2.4`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("app create takes -a APP (see `%s --help`)", cmd.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && name != "" && args[0] != name:
				return usageError{fmt.Errorf("app create: -a %s and the argument %s name different apps; give -a APP only", name, args[0])}
			case len(args) == 1:
				// The form before -a, kept so that scripts keep working.
				name = args[0]
				fmt.Fprintf(a.stderr, "lapps: note: `app create APP` is deprecated; write `app create -a %s`\n", name)
			case name == "":
				return usageError{errors.New("-a APP is required (app create -a APP [--image IMAGE ...])")}
			}
			if err := checkImageFlags("--image", images); err != nil {
				return err
			}
			svc, err := a.apps(cmd)
			if err != nil {
				return err
			}
			ap, err := svc.CreateApp(cmd.Context(), name, images)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "created app %s with %d image(s)\n", ap.Name, len(ap.Images))
			for _, im := range ap.Images {
				fmt.Fprintf(a.stdout, "  %s\n", im)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&name, "app", "a", "", "the app's name")
	cmd.Flags().StringArrayVar(&images, "image", nil, "an image of the app (repeat for each)")
	return cmd
}

func (a *app) appImportCommand() *cobra.Command {
	var file, name string
	cmd := &cobra.Command{
		Use:   "import -f WORKLOAD.yaml [-a APP]",
		Short: "Create an app (or replace its images) from Kubernetes manifests",
		Long: `Reads Kubernetes manifests (multi-document YAML, JSON, kind: List) and makes
an app of every container, init container and ephemeral container image of
their Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs and
Pods; other kinds are skipped. APP defaults to the name of the first
workload. Importing into an existing app replaces its images. -f - reads
stdin.`,
		Example: `  lapps app import -f k8s/shop.yaml
  lapps app import -f k8s/shop.yaml -a shop
  kubectl get deploy,cronjob -n shop -o yaml | lapps app import -f - -a shop`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageError{errors.New("-f WORKLOAD.yaml is required")}
			}
			var b []byte
			var err error
			if file == "-" {
				b, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<20))
			} else {
				b, err = os.ReadFile(file)
			}
			if err != nil {
				return usageError{fmt.Errorf("read manifests: %w", err)}
			}
			svc, err := a.apps(cmd)
			if err != nil {
				return err
			}
			ap, err := svc.ImportApp(cmd.Context(), name, b)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "app %s: %d image(s) from %d workload(s)\n", ap.Name, len(ap.Images), len(ap.Workloads))
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WORKLOAD\tCONTAINER\tTYPE\tIMAGE")
			for _, w := range ap.Workloads {
				for _, c := range w.Containers {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", w, c.Name, c.Type, c.Image)
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "Kubernetes manifests (YAML or JSON; - for stdin)")
	cmd.Flags().StringVarP(&name, "app", "a", "", "app name (default: the first workload's name)")
	return cmd
}

func (a *app) appDeployCommand() *cobra.Command {
	var name, env, output string
	var images []string
	cmd := &cobra.Command{
		Use:   "deploy -a APP -i IMAGE[,IMAGE] [--env ENV] [-c policy.yaml]",
		Short: "Decide a deployment under the policy; refuse it (exit code 11) when the verdict is fail",
		Long: `Evaluates each image under the policy: section of the -c file (over
--server, the server's policy for the app and environment instead): an image
never scanned is scanned now; otherwise its latest scan is matched against
the current vulnerability data. The deployment's verdict is the worst of
the images' (pass, warn, fail). A fail refuses the deployment: the reasons
go to stderr, one per line, and lapps exits with code 11. Accepted and
refused deployments are both recorded (lapps app history). Without -i, the
app's own images are deployed. ENV defaults to "default".`,
		Example: `  lapps app deploy -a shop -i docker.io/library/nginx:1.27 -c policy.yaml
  lapps app deploy -a shop -i ghcr.io/example/web:2.4,ghcr.io/example/worker:2.4 --env prod -c policy.yaml
  lapps app deploy -a shop --env staging -o json

  # policy.yaml
  policy:
    fail_on: high
    warn_on: medium
    ignore:
      - {id: CVE-2024-2961, package: glibc, until: 2026-12-31, reason: iconv not reachable}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if name == "" {
				return usageError{errors.New("-a APP is required")}
			}
			if err := checkImageFlags("-i/--image", images); err != nil {
				return err
			}
			svc, err := a.apps(cmd)
			if err != nil {
				return err
			}
			a.remotePolicyNotice(svc)
			d, err := svc.Deploy(cmd.Context(), apps.DeployRequest{App: name, Env: env, Images: images,
				Policy: a.cfg.Policy, ImageOptions: a.imageOptions()})
			if err != nil {
				return err
			}
			if output == "json" {
				if err := writeJSON(a.stdout, d); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "IMAGE\tSCAN\tCRITICAL\tHIGH\tMEDIUM\tLOW\tVERDICT")
				for _, r := range d.Results {
					v := r.Counts
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", r.Image, r.ScanIndex, v["critical"], v["high"], v["medium"], v["low"], r.Verdict.Result)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				state := "accepted"
				if !d.Accepted {
					state = "refused"
				}
				fmt.Fprintf(a.stdout, "deployment #%d of %s to %s: %s (verdict %s)\n", d.ID, d.App, d.Env, state, d.Verdict)
				if d.Accepted {
					for _, r := range d.Reasons {
						fmt.Fprintf(a.stdout, "  %s\n", r)
					}
				}
			}
			if !d.Accepted {
				return exitError{code: ExitRefused, err: fmt.Errorf("deployment of %s to %s refused (verdict %s):\n%s",
					d.App, d.Env, d.Verdict, strings.Join(d.Reasons, "\n"))}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&name, "app", "a", "", "the app to deploy")
	cmd.Flags().StringSliceVarP(&images, "image", "i", nil, "images deployed, comma-separated or repeated (default: the app's images)")
	cmd.Flags().StringVar(&env, "env", "", "environment (default \"default\")")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json")
	return cmd
}

func (a *app) appListCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the apps, their images and their current deployments",
		Example: `  lapps app list
  lapps app list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			svc, err := a.apps(cmd)
			if err != nil {
				return err
			}
			list, err := svc.ListApps(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				if list == nil {
					list = []apps.App{}
				}
				return writeJSON(a.stdout, list)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "APP\tCREATED\tIMAGES\tDEPLOYED")
			for _, ap := range list {
				var envs []string
				for _, d := range ap.Deployments {
					envs = append(envs, fmt.Sprintf("%s (#%d, %s)", d.Env, d.ID, d.Verdict))
				}
				deployed := strings.Join(envs, ", ")
				if deployed == "" {
					deployed = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", ap.Name, ap.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"), len(ap.Images), deployed)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json")
	return cmd
}

func (a *app) appRemoveCommand() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:     "remove -a APP",
		Short:   "Remove an app with its deployment history and app scans (image scans stay)",
		Example: `  lapps app remove -a shop`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return usageError{errors.New("-a APP is required")}
			}
			svc, err := a.apps(cmd)
			if err != nil {
				return err
			}
			if err := svc.RemoveApp(cmd.Context(), name); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "removed app %s\n", name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&name, "app", "a", "", "the app to remove")
	return cmd
}

func (a *app) appHistoryCommand() *cobra.Command {
	var name, output string
	cmd := &cobra.Command{
		Use:   "history -a APP",
		Short: "Show every deployment attempt of an app, accepted and refused, oldest first",
		Example: `  lapps app history -a shop
  lapps app history -a shop -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if name == "" {
				return usageError{errors.New("-a APP is required")}
			}
			svc, err := a.apps(cmd)
			if err != nil {
				return err
			}
			ds, err := svc.AppHistory(cmd.Context(), name)
			if err != nil {
				return err
			}
			if output == "json" {
				if ds == nil {
					ds = []apps.Deployment{}
				}
				return writeJSON(a.stdout, ds)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "#\tTIME\tENV\tVERDICT\tRESULT\tIMAGES")
			for _, d := range ds {
				state := "accepted"
				if !d.Accepted {
					state = "refused"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.At.UTC().Format("2006-01-02 15:04:05Z"), d.Env, d.Verdict, state, strings.Join(d.Images, ","))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, d := range ds {
				if !d.Accepted {
					fmt.Fprintf(a.stdout, "\n#%d refused:\n", d.ID)
					for _, r := range d.Reasons {
						fmt.Fprintf(a.stdout, "  %s\n", r)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&name, "app", "a", "", "the app")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json")
	return cmd
}

func (a *app) appScanCommand() *cobra.Command {
	var name, output, tmplSpec, failOn string
	cmd := &cobra.Command{
		Use:   "scan [-a APP] [-c config]",
		Short: "Scan every image of the app's current deployments and record app scan N",
		Long: `Scans (records a new image scan of) every image of the app's current
deployments: the images of the latest accepted deployment of each
environment, or the app's own images when it was never deployed. The
verdict under the policy: section of the -c file (over --server, the
server's policy) is recorded with the app scan. Without -a, the only app.`,
		Example: `  lapps app security scan -a shop
  lapps app security scan -a shop -c policy.yaml -o json
  lapps app security scan -a shop -o sarif > shop.sarif`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tmpl, err := appOutput(output, tmplSpec)
			if err != nil {
				return err
			}
			svc, err := a.apps(cmd)
			if err != nil {
				return err
			}
			if name, err = a.appName(cmd, svc, name); err != nil {
				return err
			}
			min, err := parseFailOn(failOn)
			if err != nil {
				return err
			}
			a.remotePolicyNotice(svc)
			r, err := svc.ScanApp(cmd.Context(), apps.AppScanRequest{App: name, Policy: a.cfg.Policy, ImageOptions: a.imageOptions()})
			if err != nil {
				return err
			}
			if err := a.writeAppReport(r, output, tmpl, false); err != nil {
				return err
			}
			// A CI job gates on the scan: a failing verdict, or a finding
			// at or above --fail-on, exits 10.
			if r.Verdict == "fail" {
				return exitError{code: ExitFindings, err: fmt.Errorf("app %s scan #%d: verdict fail", r.App, r.Index)}
			}
			return appFailOn(r, failOn, min)
		},
	}
	cmd.Flags().StringVar(&failOn, "fail-on", "", "exit with code 10 when a finding of any image has this severity or higher (critical, high, medium, low, negligible, unknown); a failing verdict exits 10 too")
	cmd.Flags().StringVarP(&name, "app", "a", "", "the app (default: the only app)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", appOutputHelp())
	cmd.Flags().StringVar(&tmplSpec, "template", "", "with -o template: a Go text/template FILE over the JSON app report, or "+shippedTemplates())
	return cmd
}

func (a *app) appListScansCommand() *cobra.Command {
	var name, output string
	cmd := &cobra.Command{
		Use:   "list [-a APP]",
		Short: "List the numbered scans of an app: index, time, images, counts, verdict",
		Example: `  lapps app security list -a shop
  lapps app security list -a shop -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			svc, err := a.apps(cmd)
			if err != nil {
				return err
			}
			if name, err = a.appName(cmd, svc, name); err != nil {
				return err
			}
			scans, err := svc.ListAppScans(cmd.Context(), name)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, scans)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SCAN\tTIME\tIMAGES\tCRITICAL\tHIGH\tMEDIUM\tLOW\tNEGLIGIBLE\tUNKNOWN\tVERDICT")
			for _, s := range scans {
				v := s.Vulnerabilities
				fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", s.Index, s.ScannedAt.UTC().Format("2006-01-02 15:04:05Z"),
					len(s.Images), v["critical"], v["high"], v["medium"], v["low"], v["negligible"], v["unknown"], s.Verdict)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&name, "app", "a", "", "the app (default: the only app)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json")
	return cmd
}

func (a *app) appReportCommand() *cobra.Command {
	var name, output, tmplSpec, failOn string
	var index int
	cmd := &cobra.Command{
		Use:   "report [-a APP] [-i N]",
		Short: "Show one app scan: a section per image, the totals and the verdict",
		Long: `Shows app scan N (default: the latest): each image's report as its image
scan recorded it, the totals over the images and the verdict recorded with
the app scan. Without -a, the only app.`,
		Example: `  lapps app security report -a shop
  lapps app security report -a shop -i 1 -o json
  lapps app security report -a shop -o openvex`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tmpl, err := appOutput(output, tmplSpec)
			if err != nil {
				return err
			}
			if index < 0 || (index == 0 && cmd.Flags().Changed("index")) {
				return usageError{fmt.Errorf("-i %d: app scan indexes start at 1 (leave -i out for the latest)", index)}
			}
			svc, err := a.apps(cmd)
			if err != nil {
				return err
			}
			if name, err = a.appName(cmd, svc, name); err != nil {
				return err
			}
			min, err := parseFailOn(failOn)
			if err != nil {
				return err
			}
			r, err := svc.AppReport(cmd.Context(), name, index)
			if err != nil {
				return err
			}
			if err := a.writeAppReport(r, output, tmpl, true); err != nil {
				return err
			}
			return appFailOn(r, failOn, min)
		},
	}
	cmd.Flags().StringVar(&failOn, "fail-on", "", "exit with code 10 when a finding of any image has this severity or higher (critical, high, medium, low, negligible, unknown)")
	cmd.Flags().StringVarP(&name, "app", "a", "", "the app (default: the only app)")
	indexFlag(cmd, &index, "app scan number (default: the latest)", "lapps app security list -a APP", "the app is -a APP")
	cmd.Flags().StringVarP(&output, "output", "o", "table", appOutputHelp())
	cmd.Flags().StringVar(&tmplSpec, "template", "", "with -o template: a Go text/template FILE over the JSON app report, or "+shippedTemplates())
	return cmd
}

// writeAppReport writes an app scan: as a table, with full set, each
// image's report, otherwise a line per image; in another format through
// appformat.
func (a *app) writeAppReport(r *apps.AppReport, output string, tmpl *template.Template, full bool) error {
	if output != "table" {
		return appformat.Write(a.stdout, r, output, tmpl)
	}
	fmt.Fprintf(a.stdout, "App:      %s\nScan:     #%d, %s\n", r.App, r.Index, r.ScannedAt.UTC().Format("2006-01-02 15:04:05Z"))
	for _, s := range r.Sections {
		if full {
			fmt.Fprintf(a.stdout, "\n== %s (image scan #%d): %s ==\n", s.Image, s.ScanIndex, s.Verdict.Result)
			if s.Report == nil {
				fmt.Fprintf(a.stdout, "%s\n", s.Error)
				continue
			}
			if err := report.WriteTable(a.stdout, s.Report); err != nil {
				return err
			}
			continue
		}
		n := 0
		if s.Report != nil {
			n = len(s.Report.Vulnerabilities)
		}
		fmt.Fprintf(a.stdout, "Image:    %s (image scan #%d): %d finding(s), %s\n", s.Image, s.ScanIndex, n, s.Verdict.Result)
	}
	v := r.Vulnerabilities
	fmt.Fprintf(a.stdout, "\nTotals:   critical %d, high %d, medium %d, low %d, negligible %d, unknown %d\n",
		v["critical"], v["high"], v["medium"], v["low"], v["negligible"], v["unknown"])
	fmt.Fprintf(a.stdout, "Verdict:  %s\n", r.Verdict)
	for _, reason := range r.Reasons {
		fmt.Fprintf(a.stdout, "  %s\n", reason)
	}
	return nil
}

// parseFailOn parses a --fail-on severity ("" is none).
func parseFailOn(failOn string) (vuln.Severity, error) {
	if failOn == "" {
		return 0, nil
	}
	min, ok := vuln.ParseSeverity(strings.ToLower(failOn))
	if !ok {
		return 0, usageError{fmt.Errorf("--fail-on %q: not a severity (critical, high, medium, low, negligible, unknown)", failOn)}
	}
	return min, nil
}

// appFailOn returns exit 10 when a finding of an image of r is at or above
// min (with --fail-on given).
func appFailOn(r *apps.AppReport, failOn string, min vuln.Severity) error {
	if failOn == "" {
		return nil
	}
	whole := &report.Report{}
	for _, s := range r.Sections {
		if s.Report != nil {
			whole.Vulnerabilities = append(whole.Vulnerabilities, s.Report.Vulnerabilities...)
			whole.ConfigFindings = append(whole.ConfigFindings, s.Report.ConfigFindings...)
			whole.Secrets = append(whole.Secrets, s.Report.Secrets...)
		}
	}
	if msg := failOnCount(whole, min); msg != "" {
		return exitError{code: ExitFindings, err: fmt.Errorf("app %s scan #%d: %s at or above %s", r.App, r.Index, msg, min)}
	}
	return nil
}
