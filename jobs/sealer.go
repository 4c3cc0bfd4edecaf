package jobs

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lapps/lapps/image"
)

// sealer seals registry credentials into a scan job's request with
// AES-256-GCM, bound to the job's id: the database holds only the sealed
// form, useless without the key, which is never stored (see
// WithCredentialKey). A sealed credential lives as long as its job
// (server.gc.job_ttl after it finished).
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) *sealer {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	k := sha256.Sum256(key)
	block, err := aes.NewCipher(k[:])
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &sealer{aead: aead}
}

func (s *sealer) seal(jobID string, creds map[string]image.Credential) ([]byte, error) {
	plain, err := json.Marshal(creds)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plain, []byte(jobID)), nil
}

// errSealed is the failure of a job whose credentials cannot be opened.
var errSealed = errors.New("the registry credentials of this scan were sealed by another replica, or by this one before it restarted, and cannot be opened here: give every replica the same server.harbor.credentials_key; the scan must be requested again")

func (s *sealer) open(jobID string, sealed []byte) (map[string]image.Credential, error) {
	if s == nil || len(sealed) < s.aead.NonceSize() {
		return nil, errSealed
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(jobID))
	if err != nil {
		return nil, errSealed
	}
	var creds map[string]image.Credential
	if err := json.Unmarshal(plain, &creds); err != nil {
		return nil, fmt.Errorf("sealed registry credentials: %w", err)
	}
	return creds, nil
}
