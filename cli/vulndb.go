package cli

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/updater"
)

func (a *app) vulndbCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vulndb",
		Short: "Fetch and inspect vulnerability data",
		Example: `  lapps vulndb update
  lapps vulndb update --source debian-tracker
  lapps vulndb status
  lapps vulndb import --type osv ./almalinux-advisories.zip`,
	}
	var sources []string
	update := &cobra.Command{
		Use:   "update",
		Short: "Run the configured sources now",
		Long: `Fetches every configured source (or those named with --source), with
conditional requests: an unchanged feed creates no new data. Each run that
changes the data is stored as one update operation, in one transaction; a
source that fails leaves its previous data untouched.`,
		Example: `  lapps vulndb update
  lapps vulndb update --source debian-tracker --source go-vulndb
  lapps vulndb update -c lapps.yaml

  # offline: load feeds you downloaded instead (see vulndb import --help)
  lapps vulndb import --type osv ./vulndb.zip`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, err := a.service(cmd.Context())
			if err != nil {
				return err
			}
			// One line per failed source below says what the log would.
			a.quietLogs()
			results, err := svc.UpdateVulnDB(cmd.Context(), sources)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SOURCE\tRESULT\tRECORDS\tSKIPPED\tTIME")
			var failed []service.SourceResult
			for _, r := range results {
				res := "unchanged"
				switch {
				case r.Error != "":
					res = "failed"
					failed = append(failed, r)
				case r.Changed:
					res = "updated"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", r.Source, res, r.Records, skipped(r), r.Duration.Round(time.Millisecond))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(failed) == 0 {
				return nil
			}
			// One line per failed source, after the table so that the
			// table stays narrow.
			names := make([]string, len(failed))
			for i, r := range failed {
				names[i] = r.Source
				fmt.Fprintf(a.stderr, "%s: %s\n", r.Source, oneLine(strings.TrimPrefix(r.Error, "fetch "+r.Source+": "), 200))
			}
			if len(failed) == len(results) {
				fmt.Fprintln(a.stderr, "no source could be updated; without network access, load feeds you downloaded with `lapps vulndb import --type TYPE PATH` (README: air-gapped use; --debug shows every attempt)")
			}
			return exitError{code: ExitVulnDB, err: fmt.Errorf("%d of %d sources failed: %s", len(failed), len(results), strings.Join(names, ", "))}
		},
	}
	update.Flags().StringSliceVar(&sources, "source", nil, "run only this source (repeatable)")

	var output string
	status := &cobra.Command{
		Use:     "status",
		Short:   "Show each source: last run, result, records, age",
		Example: "  lapps vulndb status\n  lapps vulndb status -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, err := a.service(cmd.Context())
			if err != nil {
				return err
			}
			st, err := svc.VulnDBStatus(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, st)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SOURCE\tTYPE\tLAST RUN\tRESULT\tRECORDS\tNEWEST RECORD\tDATA AGE\tSTORED\tORIGIN")
			for _, s := range st {
				last, res, age, newest, stored, origin := "never", "-", "-", "-", "-", "-"
				if !s.Enabled {
					last = "disabled"
				}
				if !s.LastRun.IsZero() {
					last = s.LastRun.UTC().Format("2006-01-02 15:04Z")
					res = "ok"
					if s.LastError != "" {
						// The table stays narrow; -o json has the whole error.
						res = "failed: " + oneLine(strings.TrimPrefix(s.LastError, "fetch "+s.Source+": "), 60)
					}
				}
				if !s.UpdatedAt.IsZero() {
					stored = s.UpdatedAt.UTC().Format("2006-01-02 15:04Z")
				}
				if s.DataAge != "" {
					age = s.DataAge
				}
				if s.NewestRecord != nil {
					newest = s.NewestRecord.UTC().Format("2006-01-02")
				} else if s.DataAge != "" {
					newest = "unknown (no dates)"
				}
				if s.Origin != "" {
					origin = s.Origin
				}
				typ := s.Type
				if typ == "" {
					typ = "-"
				}
				if !s.Configured {
					typ += " (imported)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", s.Source, typ, last, res, s.Records, newest, age, stored, origin)
			}
			return tw.Flush()
		},
	}
	status.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json")

	var typ, name string
	var replace bool
	imp := &cobra.Command{
		Use:   "import --type TYPE PATH",
		Short: "Load a file, directory or zip in a source's own format (air-gapped use)",
		Long: `Loads PATH (a file, a directory or a zip archive) in the format of source
type TYPE, as one source. The source is named by --name, by default
import-TYPE-BASE: BASE is the last element of PATH without a .zip
extension, lower-cased, each run of characters other than a-z, 0-9, '.'
and '_' turned into '-' (./osv/AlmaLinux-all.zip → import-osv-almalinux-all),
so that imports of different paths are different sources.

Importing the same PATH (as the same TYPE) again updates that source. An
import never replaces other data under its name without --replace: not a
configured source's, not an import of another path or type, not data
whose origin was not recorded; refused, it exits 2 and changes nothing.
With --replace the source's data is replaced, and the import says what it
replaced.`,
		Example: `  lapps vulndb import --type osv all.zip                     # source import-osv-all
  lapps vulndb import --type alpine-secdb ./alpine-secdb    # source import-alpine-secdb-alpine-secdb
  lapps vulndb import --type osv ./osv/Debian --name osv-debian-offline
  lapps vulndb import --type debian-dsa ./security-tracker/data --name debian-dsa --replace`,
		Args: exactArgs(1, "PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if typ == "" {
				return usageError{fmt.Errorf("--type is required (one of %s)", strings.Join(updater.Types(), ", "))}
			}
			if _, err := updater.Lookup(typ); err != nil {
				return usageError{err}
			}
			svc, err := a.service(cmd.Context())
			if err != nil {
				return err
			}
			// The import prints its outcome (and what it skipped) itself.
			a.quietLogs()
			r, err := svc.ImportVulnDB(cmd.Context(), typ, args[0], name, replace)
			if errors.Is(err, service.ErrBadRequest) && r == nil {
				// Refused before any data was read (a configured source's
				// name without --replace): a usage error.
				return usageError{fmt.Errorf("import %s: %w", args[0], err)}
			}
			if err != nil {
				return exitError{code: ExitVulnDB, err: fmt.Errorf("import %s: %w", args[0], err)}
			}
			if r == nil {
				return errors.New("import: no result")
			}
			state := "unchanged"
			if r.Changed {
				state = "imported"
			}
			fmt.Fprintf(a.stdout, "%s: %s, %d records as source %q", args[0], state, r.Records, r.Source)
			if r.Skipped > 0 {
				n, reasons, _ := strings.Cut(skipped(*r), " ")
				fmt.Fprintf(a.stdout, "; %s malformed entries skipped %s", n, reasons)
			}
			fmt.Fprintln(a.stdout)
			if rp := r.Replaced; rp != nil {
				if rp.SameImport {
					fmt.Fprintf(a.stdout, "updated source %s: %d records from the same path → %d records\n", r.Source, rp.Records, r.Records)
				} else {
					from := "from " + rp.Origin
					if rp.Origin == "" {
						from = "whose origin was not recorded"
						if rp.Type != "" {
							from = "of type " + rp.Type + " from its configured feed"
						}
					}
					fmt.Fprintf(a.stdout, "replaced source %s: %d records %s → %d records\n", r.Source, rp.Records, from, r.Records)
				}
			}
			return nil
		},
	}
	imp.Flags().StringVar(&typ, "type", "", "source type: "+strings.Join(updater.Types(), ", "))
	imp.Flags().StringVar(&name, "name", "", "source name to store the data under (default import-TYPE-BASE, see above)")
	imp.Flags().BoolVar(&replace, "replace", false, "replace the data of an existing source of that name that came from elsewhere (a configured source, another path or type)")
	cmd.AddCommand(update, status, imp)
	return cmd
}

// skipped renders the malformed entries a run skipped: "0", or "3
// (empty version 2, bad range 1)".
func skipped(r service.SourceResult) string {
	if r.Skipped == 0 {
		return "0"
	}
	reasons := make([]string, 0, len(r.SkippedBy))
	for reason := range r.SkippedBy {
		reasons = append(reasons, reason)
	}
	sort.Strings(reasons)
	for i, reason := range reasons {
		reasons[i] = fmt.Sprintf("%s %d", reason, r.SkippedBy[reason])
	}
	if len(reasons) == 0 {
		return strconv.Itoa(r.Skipped)
	}
	return fmt.Sprintf("%d (%s)", r.Skipped, strings.Join(reasons, ", "))
}

// oneLine returns s on one line (newlines and tabs as spaces), cut to at
// most max runes with an ellipsis.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}
