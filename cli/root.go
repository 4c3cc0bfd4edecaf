// Package cli builds lapps' command line with cobra. Commands parse flags,
// call the service, and render; they never know whether the service runs
// in-process or on a server.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lapps/lapps/client"
	"github.com/lapps/lapps/config"
	"github.com/lapps/lapps/daemon"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/redact"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/postgres"
	"github.com/lapps/lapps/store/sqlite"
	_ "github.com/lapps/lapps/updater/all" // every source type
)

// Version is lapps' version, set at build time with -ldflags.
var Version = "dev"

// app holds what the commands share: global flags and the service.
type app struct {
	stdout, stderr io.Writer
	configPath     string
	dbPath         string
	serverURL      string
	debug          bool
	// logLevel is the level of the log handler on stderr: warn, or debug
	// with --debug; commands that report every outcome themselves raise it
	// (quietLogs).
	logLevel slog.LevelVar
	cfg      *config.Config
	svc      service.Service
	// st is the store of the in-process service (nil over --server).
	st store.Store
	// isTerminal reports whether stderr is a terminal (progress is shown
	// only then).
	isTerminal bool
}

// Main runs the command line with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, isTerminal: isTerminal(stderr)}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if a.svc != nil {
		if cerr := a.svc.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err == nil {
		return ExitOK
	}
	code := exitCode(err)
	if code != ExitFindings || !isSilent(err) {
		fmt.Fprintf(stderr, "lapps: %s\n", errorText(err))
	}
	return code
}

// errorText is the one line an error is shown as: the clauses a wrapped
// error repeats said once ("open database X: open database X: …"), no
// trailing sentinel that only chooses the exit code (": bad request",
// ": not found"), and "interrupted" rather than "context canceled".
func errorText(err error) string {
	parts := strings.Split(err.Error(), ": ")
	out := parts[:0:0]
	for _, p := range parts {
		if len(out) > 0 && out[len(out)-1] == p {
			continue
		}
		out = append(out, p)
	}
	for len(out) > 1 {
		last := out[len(out)-1]
		if last == service.ErrBadRequest.Error() || last == service.ErrNotFound.Error() {
			out = out[:len(out)-1]
			continue
		}
		break
	}
	if n := len(out); n > 0 && out[n-1] == context.Canceled.Error() {
		out[n-1] = "interrupted"
	}
	return strings.Join(out, ": ")
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "lapps",
		Short: "Find the known vulnerabilities in container images and the applications built from them",
		Long: `lapps indexes container images layer by layer, once, and reports the known
vulnerabilities of the packages they contain by matching the stored index
against vulnerability data it ingests from distribution trackers and OSV.

By default everything runs in-process on an embedded database under
$XDG_DATA_HOME/lapps (override with --db, LAPPS_DB or the configuration
file's database section; a postgres:// URL selects PostgreSQL).`,
		Example: `  # scan an image in a registry, then list and show its scans
  lapps image security scan docker.io/library/debian:12
  lapps image security list docker.io/library/debian:12
  lapps image security report docker.io/library/debian:12 -i 1 -o json

  # fetch vulnerability data
  lapps vulndb update`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionString(),
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.logLevel.Set(slog.LevelWarn)
			if a.debug {
				a.logLevel.Set(slog.LevelDebug)
			}
			// Credentials in URLs (webhooks, feeds, registries) never
			// reach a log line.
			slog.SetDefault(slog.New(redact.Handler(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: &a.logLevel}))))
			cfg, err := config.Load(a.configPath)
			if err != nil {
				return usageError{err}
			}
			a.cfg = cfg
			return nil
		},
	}
	root.PersistentFlags().StringVarP(&a.configPath, "config", "c", "", "configuration file (YAML; see the README)")
	root.PersistentFlags().StringVar(&a.dbPath, "db", "", "database: an SQLite file, or a PostgreSQL URL postgres://… (default $LAPPS_DB, then database.url of -c, then $XDG_DATA_HOME/lapps/lapps.db)")
	root.PersistentFlags().BoolVar(&a.debug, "debug", false, "log debug messages to stderr")
	root.PersistentFlags().StringVar(&a.serverURL, "server", "", "run commands on a lapps server (default $LAPPS_SERVER; token in $LAPPS_TOKEN) instead of in-process")
	root.SetFlagErrorFunc(flagError)
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(a.imageCommand(), a.sbomCommand(), a.appCommand(), a.vulndbCommand(), a.serveCommand(), a.tokenCommand(), a.versionCommand())
	return root
}

// service returns the service, opening it on first use.
func (a *app) service(ctx context.Context) (service.Service, error) {
	if a.svc != nil {
		return a.svc, nil
	}
	if u := a.serverURL; u != "" || os.Getenv("LAPPS_SERVER") != "" {
		if u == "" {
			u = os.Getenv("LAPPS_SERVER")
		}
		c, err := client.New(u, os.Getenv("LAPPS_TOKEN"))
		if err != nil {
			return nil, usageError{err}
		}
		a.svc = c
		return c, nil
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return nil, err
	}
	a.st = st
	a.svc = a.newLocal(st, service.WithSources(a.cfg.Sources()))
	return a.svc, nil
}

// newLocal is daemon.NewLocal with the command's configuration.
func (a *app) newLocal(st store.Store, opts ...service.Option) *service.Local {
	return daemon.NewLocal(a.cfg, st, opts...)
}

// openStore opens the database: a PostgreSQL URL (postgres://…) or an
// SQLite file, from --db, else LAPPS_DB, else the configuration file's
// database section, else the default file.
func (a *app) openStore(ctx context.Context) (store.Store, error) {
	path := a.dbPath
	if path == "" {
		path = os.Getenv("LAPPS_DB")
	}
	if path == "" {
		path = a.cfg.DatabaseURL()
	}
	if path == "" {
		p, err := sqlite.DefaultPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	if postgres.IsDSN(path) {
		st, err := postgres.Open(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return st, nil
}

// quietLogs silences the log on stderr for a command that reports every
// outcome itself (vulndb update and import print one line per failed
// source); --debug keeps it.
func (a *app) quietLogs() {
	if !a.debug {
		a.logLevel.Set(slog.LevelError + 4)
	}
}

// versionString is what `lapps version` and `lapps --version` print.
func versionString() string {
	return fmt.Sprintf("lapps %s (indexer %s)", Version, indexer.Version)
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print lapps' version and the indexer version",
		Example: "  lapps version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(a.stdout, versionString())
			return nil
		},
	}
}
