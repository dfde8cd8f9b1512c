// Package vault implements linkd.Keyring: envelope encryption with AES-256-GCM.
//
// A master key (from LINKD_ENCRYPTION_KEY or a key file) wraps one random data
// key per linked account; secrets are sealed with the data key. Destroying the
// wrapped data key (deleting the account row) makes every secret sealed with
// it unreadable, even in backups that still hold the ciphertexts.
package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/linkd-dev/linkd"
)

// version prefixes every ciphertext so the format can change without guessing.
const version = 1

// keyIDLen is the length of the master-key id stored in wrapped data keys: it
// tells at once which master key is needed, and makes rotation possible.
const keyIDLen = 4

// Keyring implements linkd.Keyring.
type Keyring struct {
	id     [keyIDLen]byte
	wrap   cipher.AEAD
	master []byte
	// older are the wrapping keys of the other master keys given, by id:
	// they open data keys they wrapped, and wrap nothing new (rotation).
	older map[[keyIDLen]byte]cipher.AEAD
}

var _ linkd.Keyring = (*Keyring)(nil)

// New returns a keyring for a 32-byte master key, which wraps every new
// data key. The older master keys, if any, only open the data keys they
// wrapped: they are how a keyring reads a database while its data keys are
// re-wrapped under a new master key (Rewrap).
func New(master []byte, older ...[]byte) (*Keyring, error) {
	id, aead, err := wrapper(master)
	if err != nil {
		return nil, err
	}
	k := &Keyring{id: id, wrap: aead, master: append([]byte(nil), master...), older: map[[keyIDLen]byte]cipher.AEAD{}}
	for i, o := range older {
		oid, oaead, err := wrapper(o)
		if err != nil {
			return nil, fmt.Errorf("older key %d: %w", i+1, err)
		}
		if oid != id {
			k.older[oid] = oaead
		}
	}
	return k, nil
}

// wrapper derives a master key's id and data-key wrapping AEAD.
func wrapper(master []byte) (id [keyIDLen]byte, aead cipher.AEAD, err error) {
	if len(master) != 32 {
		return id, nil, fmt.Errorf("master key is %d bytes; it must be 32", len(master))
	}
	// Derive the wrapping key rather than using the master key directly, so
	// that the same master key can later serve other purposes independently.
	wk, err := hkdf.Key(sha256.New, master, nil, "linkd data-key wrapping v1", 32)
	if err != nil {
		return id, nil, err
	}
	if aead, err = newAEAD(wk); err != nil {
		return id, nil, err
	}
	fp, err := hkdf.Key(sha256.New, master, nil, "linkd master-key id v1", keyIDLen)
	if err != nil {
		return id, nil, err
	}
	copy(id[:], fp)
	return id, aead, nil
}

// KeyID identifies the master key without revealing it. The server stores it
// in the database at first start and refuses to run with another key, which
// would otherwise fail only when a secret is first read.
func (k *Keyring) KeyID() string { return hex.EncodeToString(k.id[:]) }

// OlderKeyIDs are the ids of the older master keys the keyring holds.
func (k *Keyring) OlderKeyIDs() []string {
	out := make([]string, 0, len(k.older))
	for id := range k.older {
		out = append(out, hex.EncodeToString(id[:]))
	}
	slices.Sort(out)
	return out
}

// Rewrap implements linkd.Rewrapper: it returns the data key wrapped by
// the keyring's master key, opening it with whichever master key wrapped it;
// changed is false (and out is wrapped) when that is the current key already.
// The data key itself does not change, so what it sealed stays as it is.
func (k *Keyring) Rewrap(wrapped []byte, owner string) (out []byte, changed bool, err error) {
	if len(wrapped) >= 1+keyIDLen && wrapped[0] == version && string(wrapped[1:1+keyIDLen]) == string(k.id[:]) {
		return wrapped, false, nil
	}
	dk, err := k.openDataKey(wrapped, owner)
	if err != nil {
		return nil, false, err
	}
	return k.wrapDataKey(dk, owner), true, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	// Random 96-bit nonces are safe here: each data key seals few values, and
	// the wrapping key seals one data key per account (far below 2^32).
	return cipher.NewGCMWithRandomNonce(block)
}

// NewDataKey implements linkd.Keyring.
func (k *Keyring) NewDataKey(owner string) ([]byte, error) {
	dk := make([]byte, 32)
	rand.Read(dk)
	return k.wrapDataKey(dk, owner), nil
}

func (k *Keyring) wrapDataKey(dk []byte, owner string) []byte {
	out := make([]byte, 0, 1+keyIDLen+k.wrap.Overhead()+len(dk))
	out = append(out, version)
	out = append(out, k.id[:]...)
	return k.wrap.Seal(out, nil, dk, []byte(owner))
}

// openDataKey returns the raw data key in wrapped, opened with the master
// key whose id it carries.
func (k *Keyring) openDataKey(wrapped []byte, owner string) ([]byte, error) {
	if len(wrapped) < 1+keyIDLen || wrapped[0] != version {
		return nil, errors.New("vault: malformed data key")
	}
	id := [keyIDLen]byte(wrapped[1 : 1+keyIDLen])
	aead := k.wrap
	if id != k.id {
		if aead = k.older[id]; aead == nil {
			return nil, fmt.Errorf("vault: data key was wrapped by master key %x, not %s", id, k.KeyID())
		}
	}
	dk, err := aead.Open(nil, nil, wrapped[1+keyIDLen:], []byte(owner))
	if err != nil {
		return nil, fmt.Errorf("vault: unwrap data key: %w", err)
	}
	return dk, nil
}

func (k *Keyring) unwrap(wrapped []byte, owner string) (cipher.AEAD, error) {
	dk, err := k.openDataKey(wrapped, owner)
	if err != nil {
		return nil, err
	}
	return newAEAD(dk)
}

// valueAAD binds a sealed value to its owner and field; the NUL cannot occur
// in either, so no two pairs give the same bytes.
func valueAAD(owner, field string) []byte {
	return []byte(owner + "\x00" + field)
}

// Seal implements linkd.Keyring.
func (k *Keyring) Seal(wrapped []byte, owner, field string, plaintext []byte) ([]byte, error) {
	aead, err := k.unwrap(wrapped, owner)
	if err != nil {
		return nil, err
	}
	return aead.Seal([]byte{version}, nil, plaintext, valueAAD(owner, field)), nil
}

// Open implements linkd.Keyring.
func (k *Keyring) Open(wrapped []byte, owner, field string, sealed []byte) ([]byte, error) {
	aead, err := k.unwrap(wrapped, owner)
	if err != nil {
		return nil, err
	}
	if len(sealed) < 1 || sealed[0] != version {
		return nil, errors.New("vault: malformed ciphertext")
	}
	return aead.Open(nil, nil, sealed[1:], valueAAD(owner, field))
}

// MAC implements linkd.Keyring.
func (k *Keyring) MAC(purpose string, data []byte) []byte {
	key, err := hkdf.Key(sha256.New, k.master, nil, "linkd mac v1 "+purpose, 32)
	if err != nil {
		panic(err) // only for lengths hkdf cannot make; 32 is always fine
	}
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// ParseKey decodes a master key given as 64 hex digits or as standard or
// URL-safe base64 of 32 bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("encryption key must be 32 bytes as 64 hex digits or base64")
}

// LoadOrCreateKeyFile reads the master key from path, or creates it there
// (mode 0600) when it does not exist; created tells the caller to say so.
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		key, err := ParseKey(string(b))
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return key, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	key = make([]byte, 32)
	rand.Read(key)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	// O_EXCL: two processes starting at once must not each write a key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadOrCreateKeyFile(path)
	} else if err != nil {
		return nil, false, err
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, false, err
	}
	if err := f.Close(); err != nil {
		return nil, false, err
	}
	return key, true, nil
}
