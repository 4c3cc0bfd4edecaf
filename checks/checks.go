// Package checks holds what lapps finds in an image beyond vulnerable
// packages: configuration findings (from the image configuration and from
// the files of its layers) and secrets in file contents. The file checks
// and the secret scan run in the indexer's single pass over each layer
// (package checks/layer); their results are stored with the layer's
// index and folded with the image's, so that reports never read an
// image again.
package checks

import (
	"strings"
	"unicode/utf8"

	"github.com/lapps/lapps/vuln"
)

// Version is the version of the checks: the rules, the file checks and
// the way their results are recorded. It ends the indexer's version
// (indexer.Version): bumping it when the checks find more, less or
// differently makes cached layers be indexed again.
const Version = "1"

// Finding is one configuration finding: of the image configuration
// ("config-…" ids) or of a file of a layer ("file-…" ids).
type Finding struct {
	// ID names the check (docs/report.md lists them); policy's
	// checks.disable takes these ids.
	ID       string        `json:"id"`
	Severity vuln.Severity `json:"severity"`
	Title    string        `json:"title"`
	// Detail says what was found where, never a secret's value.
	Detail string `json:"detail,omitempty"`
	// Layer is the digest of the layer the finding is in, where it
	// applies (file findings, history entries).
	Layer string `json:"layer,omitempty"`
	// Path is the file of a file finding, without a leading slash.
	Path string `json:"path,omitempty"`
}

// Secret is one secret found in a file. Its value is never kept: only
// Preview, its first PreviewRunes characters and a redaction mark.
type Secret struct {
	// Rule is the rule's id ("aws-access-token"); Title its description.
	Rule     string        `json:"rule"`
	Title    string        `json:"title"`
	Severity vuln.Severity `json:"severity"`
	// Path is the file, without a leading slash; Line its 1-based line.
	Path string `json:"path"`
	Line int    `json:"line"`
	// Layer is the digest of the layer holding the file.
	Layer   string `json:"layer,omitempty"`
	Preview string `json:"preview"`
	// DeletedLater is true when a later layer deletes the file: the
	// secret is no longer in the final file system, but still in the
	// image (its layer ships it).
	DeletedLater bool `json:"deleted_later,omitempty"`
}

// LayerResult is what the checks found in one layer.
type LayerResult struct {
	// Version is the checks' Version that produced the result.
	Version  string    `json:"version"`
	Findings []Finding `json:"findings,omitempty"`
	Secrets  []Secret  `json:"secrets,omitempty"`
	// Wrote are the files of the layer whose content the final-state
	// checks look at (etc/shadow, sshd configuration): a later layer
	// writing one supersedes an earlier layer's findings about it.
	Wrote []string `json:"wrote,omitempty"`
	// Dropped counts findings and secrets beyond the per-layer bound
	// (MaxPerLayer), not kept.
	Dropped int `json:"dropped,omitempty"`
}

// MaxPerLayer is the most findings, and the most secrets, one layer's
// result keeps; the rest are counted in Dropped.
const MaxPerLayer = 1000

// PreviewRunes is how many characters of a secret a preview shows.
const PreviewRunes = 4

// Redact returns the preview of a secret value: its first PreviewRunes
// characters followed by "****", or only "****" for a value of
// 2*PreviewRunes characters or fewer (a short value would be mostly
// shown).
func Redact(value string) string {
	if utf8.RuneCountInString(value) <= 2*PreviewRunes {
		return "****"
	}
	var b strings.Builder
	n := 0
	for _, r := range value {
		if n == PreviewRunes {
			break
		}
		b.WriteRune(r)
		n++
	}
	b.WriteString("****")
	return b.String()
}

// FinalState reports whether findings of the check id describe the final
// file system: a later layer deleting or rewriting the file removes them
// (a setuid bit, a shadow entry, an sshd setting). The other file
// findings (keys, credentials, caches) and secrets are about what a layer
// ships: they stay, marked as deleted later where a later layer deletes
// the file, since anyone pulling the image gets the layer.
func FinalState(id string) bool {
	switch id {
	case FileSetuid, FileSetgid, FileWorldWritable, FileShadowEmpty, FileShadowWeak, FileSSHDRootLogin, FileSSHDPasswordAuth:
		return true
	}
	return false
}

// Ids of the checks.
const (
	ConfigRootUser      = "config-root-user"
	ConfigSecretEnv     = "config-secret-env"
	ConfigSecretArg     = "config-secret-build-arg"
	ConfigAddURL        = "config-add-url"
	ConfigSensitivePort = "config-sensitive-port"
	ConfigNoHealthcheck = "config-no-healthcheck"
	ConfigEOLBase       = "config-eol-base"

	FileSetuid           = "file-setuid"
	FileSetgid           = "file-setgid"
	FileWorldWritable    = "file-world-writable"
	FilePrivateKey       = "file-private-key"
	FileSSHHostKey       = "file-ssh-host-key"
	FileDotenv           = "file-dotenv"
	FileCloudCredentials = "file-cloud-credentials"
	FileShadowEmpty      = "file-shadow-empty-password"
	FileShadowWeak       = "file-shadow-weak-hash"
	FileSSHDRootLogin    = "file-sshd-root-login"
	FileSSHDPasswordAuth = "file-sshd-password-auth"
	FilePackageCache     = "file-package-cache"
)

// IDs are every check id, config checks first; secret rules are named by
// their rule ids (checks/secrets).
var IDs = []string{
	ConfigRootUser, ConfigSecretEnv, ConfigSecretArg, ConfigAddURL, ConfigSensitivePort, ConfigNoHealthcheck, ConfigEOLBase,
	FileSetuid, FileSetgid, FileWorldWritable, FilePrivateKey, FileSSHHostKey, FileDotenv, FileCloudCredentials,
	FileShadowEmpty, FileShadowWeak, FileSSHDRootLogin, FileSSHDPasswordAuth, FilePackageCache,
}
