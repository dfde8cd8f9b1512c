package vault_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd/vault"
)

func newKeyring(t testing.TB) *vault.Keyring {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	kr, err := vault.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestSealOpen(t *testing.T) {
	kr := newKeyring(t)
	dk, err := kr.NewDataKey("org/test/acct1")
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte(`{"token":"xoxb-123"}`)
	sealed, err := kr.Seal(dk, "org/test/acct1", "creds", secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret[2:10]) {
		t.Fatal("sealed value contains the plaintext")
	}
	got, err := kr.Open(dk, "org/test/acct1", "creds", sealed)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	again, _ := kr.Seal(dk, "org/test/acct1", "creds", secret)
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals of one value are equal: nonces are not random")
	}

	// Every binding is checked.
	cases := map[string]func() error{
		"other owner": func() error { _, err := kr.Open(dk, "org/test/acct2", "creds", sealed); return err },
		"other field": func() error { _, err := kr.Open(dk, "org/test/acct1", "token", sealed); return err },
		"other master": func() error {
			_, err := newKeyring(t).Open(dk, "org/test/acct1", "creds", sealed)
			return err
		},
		"tampered value": func() error {
			bad := append([]byte(nil), sealed...)
			bad[len(bad)-1] ^= 1
			_, err := kr.Open(dk, "org/test/acct1", "creds", bad)
			return err
		},
		"tampered key": func() error {
			bad := append([]byte(nil), dk...)
			bad[len(bad)-1] ^= 1
			_, err := kr.Open(bad, "org/test/acct1", "creds", sealed)
			return err
		},
		"another data key": func() error {
			dk2, _ := kr.NewDataKey("org/test/acct1")
			_, err := kr.Open(dk2, "org/test/acct1", "creds", sealed)
			return err
		},
		"truncated": func() error { _, err := kr.Open(dk, "org/test/acct1", "creds", sealed[:3]); return err },
		"empty key": func() error { _, err := kr.Open(nil, "org/test/acct1", "creds", sealed); return err },
	}
	for name, open := range cases {
		if open() == nil {
			t.Errorf("%s: opened", name)
		}
	}
}

func TestKeyIDIsStableAndDistinct(t *testing.T) {
	k := bytes.Repeat([]byte{7}, 32)
	a, _ := vault.New(k)
	b, _ := vault.New(k)
	if a.KeyID() != b.KeyID() || a.KeyID() == newKeyring(t).KeyID() {
		t.Fatal("key id must depend on the key alone")
	}
	if _, err := vault.New(k[:16]); err == nil {
		t.Fatal("a 16-byte master key was accepted")
	}
}

func TestParseKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, 32)
	for _, s := range []string{hex.EncodeToString(raw), "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=", " q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s\n"} {
		got, err := vault.ParseKey(s)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("ParseKey(%q) = %x, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "short", hex.EncodeToString(raw[:31])} {
		if _, err := vault.ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) accepted", s)
		}
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "master.key")
	k1, created, err := vault.LoadOrCreateKeyFile(path)
	if err != nil || !created || len(k1) != 32 {
		t.Fatalf("create: %v %v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	k2, created, err := vault.LoadOrCreateKeyFile(path)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Fatalf("reload: created %v, equal %v, %v", created, bytes.Equal(k1, k2), err)
	}
}

// TestRewrap: a keyring with an older master key opens data keys that key
// wrapped, wraps new ones with its own, and re-wraps old ones so that a
// keyring with the new key alone opens what the old data key sealed.
func TestRewrap(t *testing.T) {
	oldMaster, newMaster := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	old, _ := vault.New(oldMaster)
	both, err := vault.New(newMaster, oldMaster, newMaster)
	if err != nil {
		t.Fatal(err)
	}
	newOnly, _ := vault.New(newMaster)
	if got := both.OlderKeyIDs(); len(got) != 1 || got[0] != old.KeyID() {
		t.Fatalf("older key ids: %v (the current key is not an older one)", got)
	}
	wrapped, _ := old.NewDataKey("acct-1")
	sealed, _ := old.Seal(wrapped, "acct-1", "f", []byte("secret"))
	if got, err := both.Open(wrapped, "acct-1", "f", sealed); err != nil || string(got) != "secret" {
		t.Fatalf("open with the older key: %q, %v", got, err)
	}
	if _, err := newOnly.Open(wrapped, "acct-1", "f", sealed); err == nil {
		t.Fatal("the new key alone opened a data key the old one wrapped")
	}
	if _, _, err := both.Rewrap(wrapped, "acct-2"); err == nil {
		t.Fatal("re-wrapped a data key for another owner")
	}
	re, changed, err := both.Rewrap(wrapped, "acct-1")
	if err != nil || !changed {
		t.Fatalf("rewrap: %v %v", changed, err)
	}
	if got, err := newOnly.Open(re, "acct-1", "f", sealed); err != nil || string(got) != "secret" {
		t.Fatalf("open re-wrapped with the new key alone: %q, %v", got, err)
	}
	if again, changed, err := both.Rewrap(re, "acct-1"); err != nil || changed || !bytes.Equal(again, re) {
		t.Fatalf("rewrap of a current data key: %v %v", changed, err)
	}
	if _, _, err := newOnly.Rewrap(wrapped, "acct-1"); err == nil {
		t.Fatal("re-wrapped a data key of a master key the keyring lacks")
	}
	if _, err := vault.New(newMaster, oldMaster[:8]); err == nil {
		t.Fatal("a short older key was accepted")
	}
}

// FuzzParseKey: a master key given in configuration is 32 bytes or an
// error.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{strings.Repeat("ab", 32), "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=", "", "zz", strings.Repeat("a", 44)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := vault.ParseKey(s); err == nil && len(k) != 32 {
			t.Fatalf("ParseKey(%q) = %d bytes", s, len(k))
		}
	})
}

// FuzzOpen: stored data keys and ciphertexts read back from a database (or
// a backup someone tampered with) open to what was sealed or fail; nothing
// else opens, and nothing panics.
func FuzzOpen(f *testing.F) {
	kr := newKeyring(f)
	wrapped, _ := kr.NewDataKey("o")
	sealed, _ := kr.Seal(wrapped, "o", "f", []byte("secret"))
	f.Add(wrapped, sealed)
	f.Add([]byte{}, []byte{})
	f.Add(wrapped[:5], sealed[:1])
	f.Fuzz(func(t *testing.T, w, s []byte) {
		got, err := kr.Open(w, "o", "f", s)
		if err == nil && string(got) != "secret" {
			t.Fatalf("opened %q", got)
		}
		kr.Rewrap(w, "o")
	})
}
