package cli

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/client"
	"github.com/lapps/lapps/server"
)

func (a *app) tokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage the bearer tokens of `lapps serve` (stored hashed in its database)",
		Long: `Tokens authenticate callers of the lapps API. Each has scopes: read (every
GET), scan (queue scans, registry events, app scans, admission reviews),
deploy (create and import apps, decide deployments) and admin (update and
import vulnerability data, manage tokens, remove apps; admin may do
everything).

With --server (or LAPPS_SERVER) the commands manage the server's tokens
over its API, with an admin token in LAPPS_TOKEN; otherwise they work on
the database directly (--db, LAPPS_DB or the configuration's database),
which is how the first admin token is made.`,
		Example: `  lapps token create admin --scope admin
  lapps token create ci --scope read,scan
  lapps --server https://lapps.example.com token list
  lapps token revoke 3`,
	}
	var scope string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a token and print it (it is shown once, and stored only hashed)",
		Example: `  export LAPPS_TOKEN=$(lapps token create ci --scope read,scan)
  lapps --server https://lapps.example.com token create deployer --scope deploy`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			scopes, err := server.ParseScopes(scope)
			if err != nil {
				return usageError{fmt.Errorf("--scope: %w", err)}
			}
			if err := server.CheckTokenName(args[0]); err != nil {
				return usageError{err}
			}
			ctx := cmd.Context()
			if c, err := a.remote(); c != nil || err != nil {
				if err != nil {
					return err
				}
				t, err := c.CreateToken(ctx, args[0], scopes)
				if err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, t.Secret)
				fmt.Fprintf(a.stderr, "token %d (%s, scopes %s) created on the server; it is not shown again\n", t.ID, t.Name, strings.Join(t.Scopes, ","))
				return nil
			}
			st, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			secret, hash, err := server.NewTokenSecret()
			if err != nil {
				return err
			}
			t, err := st.CreateToken(ctx, args[0], hash, scopes)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, secret)
			fmt.Fprintf(a.stderr, "token %d (%s, scopes %s) created; it is not shown again\n", t.ID, t.Name, strings.Join(t.Scopes, ","))
			return nil
		},
	}
	create.Flags().StringVar(&scope, "scope", server.ScopeRead, "comma-separated scopes: "+strings.Join(server.Scopes, ", "))
	list := &cobra.Command{
		Use:     "list",
		Short:   "List tokens with their scopes (never their secrets)",
		Example: "  lapps token list",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := a.listTokens(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tLAST USED\tSTATE")
			for _, t := range ts {
				last, state := "never", "active"
				if !t.LastUsed.IsZero() {
					last = t.LastUsed.UTC().Format("2006-01-02 15:04Z")
				}
				if !t.RevokedAt.IsZero() {
					state = "revoked " + t.RevokedAt.UTC().Format("2006-01-02")
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, strings.Join(t.Scopes, ","), t.CreatedAt.UTC().Format("2006-01-02 15:04Z"), last, state)
			}
			return tw.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke a token: the server refuses it from then on",
		Example: "  lapps token revoke 3",
		Args:    exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return usageError{fmt.Errorf("token id %q: a number from `lapps token list`", args[0])}
			}
			ctx := cmd.Context()
			if c, err := a.remote(); c != nil || err != nil {
				if err != nil {
					return err
				}
				if err := c.RevokeToken(ctx, id); err != nil {
					return fmt.Errorf("revoke token %s: %w", args[0], err)
				}
			} else {
				st, err := a.openStore(ctx)
				if err != nil {
					return err
				}
				defer st.Close()
				if err := st.RevokeToken(ctx, id); err != nil {
					return fmt.Errorf("revoke token %s: %w", args[0], err)
				}
			}
			fmt.Fprintf(a.stdout, "token %s revoked\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// remote returns the client of the server named by --server or
// LAPPS_SERVER, or nil when neither is set.
func (a *app) remote() (*client.Client, error) {
	u := a.serverURL
	if u == "" {
		u = os.Getenv("LAPPS_SERVER")
	}
	if u == "" {
		return nil, nil
	}
	c, err := client.New(u, os.Getenv("LAPPS_TOKEN"))
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

// listTokens lists the tokens of the server, or of the database.
func (a *app) listTokens(ctx context.Context) ([]api.TokenInfo, error) {
	if c, err := a.remote(); c != nil || err != nil {
		if err != nil {
			return nil, err
		}
		return c.ListTokens(ctx)
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ts, err := st.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.TokenInfo, len(ts))
	for i, t := range ts {
		out[i] = api.TokenInfo{ID: t.ID, Name: t.Name, Scopes: t.Scopes, CreatedAt: t.CreatedAt, LastUsed: t.LastUsed, RevokedAt: t.RevokedAt}
	}
	return out, nil
}
