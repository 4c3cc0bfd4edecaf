package cli

import (
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lapps/lapps/server"
)

func (a *app) tokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage the bearer tokens of `lapps serve` (stored hashed in its database)",
		Example: `  lapps token create ci
  lapps token list
  lapps token revoke 3`,
	}
	create := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create a token and print it (it is shown once, and stored only hashed)",
		Example: "  export LAPPS_TOKEN=$(lapps token create ci)",
		Args:    exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			secret, hash, err := server.NewTokenSecret()
			if err != nil {
				return err
			}
			t, err := st.CreateToken(cmd.Context(), args[0], hash, []string{"read"})
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, secret)
			fmt.Fprintf(a.stderr, "token %d (%s) created; it is not shown again\n", t.ID, t.Name)
			return nil
		},
	}
	list := &cobra.Command{
		Use:     "list",
		Short:   "List tokens (never their secrets)",
		Example: "  lapps token list",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			ts, err := st.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tCREATED\tLAST USED\tSTATE")
			for _, t := range ts {
				last, state := "never", "active"
				if !t.LastUsed.IsZero() {
					last = t.LastUsed.UTC().Format("2006-01-02 15:04Z")
				}
				if !t.RevokedAt.IsZero() {
					state = "revoked " + t.RevokedAt.UTC().Format("2006-01-02")
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.CreatedAt.UTC().Format("2006-01-02 15:04Z"), last, state)
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
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return usageError{fmt.Errorf("token id %q: a number from `lapps token list`", args[0])}
			}
			if err := st.RevokeToken(cmd.Context(), id); err != nil {
				return fmt.Errorf("revoke token %s: %w", args[0], err)
			}
			fmt.Fprintf(a.stdout, "token %s revoked\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
