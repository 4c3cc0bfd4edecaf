package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/lapps/lapps/service"
)

func (a *app) sbomCommand() *cobra.Command {
	sb := &cobra.Command{
		Use:   "sbom",
		Short: "Scan software bills of materials (CycloneDX and SPDX JSON)",
		Long: `An SBOM (CycloneDX 1.4–1.6 or SPDX 2.2–2.3 JSON, as lapps, Syft and Trivy
write them) is scanned like an image: its packages are taken by purl, the
operating system from its OS component (or the distro qualifier of its OS
packages' purls), matched against the current vulnerability data, and
recorded as a numbered scan of sbom:/ABSOLUTE/PATH. "lapps sbom scan FILE"
is "lapps image security scan sbom:FILE"; list and report take sbom:FILE
as IMAGE.`,
		Example: `  syft debian:12 -o cyclonedx-json > bom.json
  lapps sbom scan bom.json
  lapps image security list sbom:bom.json
  lapps image security report sbom:bom.json -i 1 -o json`,
	}
	var ff findingFlags
	scan := &cobra.Command{
		Use:   "scan FILE",
		Short: "Scan an SBOM file and record a new numbered scan of sbom:FILE",
		Example: `  lapps sbom scan bom.cdx.json
  lapps sbom scan bom.spdx.json -o json --fail-on high
  lapps sbom scan trivy-sbom.json -c lapps.yaml`,
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ff.validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			svc, err := a.service(ctx)
			if err != nil {
				return err
			}
			ref := args[0]
			if !strings.HasPrefix(ref, "sbom:") {
				ref = "sbom:" + ref
			}
			r, err := svc.ScanImage(ctx, service.ScanRequest{Image: ref})
			if err != nil {
				return err
			}
			return a.render(r, &ff)
		},
	}
	ff.register(scan)
	sb.AddCommand(scan)
	return sb
}
