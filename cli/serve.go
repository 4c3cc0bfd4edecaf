package cli

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/lapps/lapps/daemon"
)

func (a *app) serveCommand() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the lapps server: the HTTP API, scheduled ingest, scrub and garbage collection",
		Long: `Runs the versioned JSON API under /v1 (described at /v1/openapi.json) and, in the
same process, each vulnerability source at its interval. The configuration
file's server section sets the address, TLS and tokens (docs/config.md);
nothing is needed to start. Point the CLI at it with --server or LAPPS_SERVER.`,
		Example: `  lapps serve
  lapps serve --addr 127.0.0.1:6060 -c lapps.yaml
  LAPPS_SERVER=http://127.0.0.1:6060 LAPPS_TOKEN=… lapps image security list debian:12`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.serve(cmd.Context(), addr)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "address to listen on (default "+"127.0.0.1:6060"+", or server.addr of the configuration)")
	return cmd
}

// serve runs the daemon on the store of --db (LAPPS_DB, the
// configuration's database); errors in the configuration are usage
// errors.
func (a *app) serve(ctx context.Context, addr string) error {
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	err = daemon.Run(ctx, a.cfg, st, daemon.WithAddr(addr), daemon.WithOutput(a.stderr), daemon.WithVersion(Version))
	if ce := (daemon.ConfigError{}); errors.As(err, &ce) {
		return usageError{err}
	}
	return err
}
