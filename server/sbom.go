package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/lapps/lapps/service"
)

// maxSBOMName bounds the name an uploaded SBOM is recorded under.
const maxSBOMName = 4096

// scanSBOM scans an uploaded SBOM (CycloneDX or SPDX JSON, the request
// body) and records it as the next scan of the name query parameter
// ("sbom:" and the client's absolute path, which `lapps image security
// list|report sbom:FILE` then name). The server reads only the body,
// never a path; the body is bounded by limits.sbom_bytes. The scan runs
// in the request, not as a job: it reads no layers.
func (s *Server) scanSBOM(w http.ResponseWriter, r *http.Request) {
	sc, ok := s.svc.(service.SBOMScanner)
	if !ok {
		writeError(w, http.StatusNotImplemented, CodeBadRequest, "this server does not scan SBOMs")
		return
	}
	name := r.URL.Query().Get("name")
	if !strings.HasPrefix(name, "sbom:") || len(name) == len("sbom:") || len(name) > maxSBOMName || strings.ContainsAny(name, "\x00\n\r") {
		writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("name must be sbom:NAME (at most %d bytes)", maxSBOMName))
		return
	}
	rep, err := sc.ScanSBOM(r.Context(), name, "", r.Body, nil)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
