package connect

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"fmt"
	"strings"
)

// sealedPrefix marks a return_to stored sealed. States made before sealing
// (they live minutes) hold the path in clear and are read as they are.
const sealedPrefix = "sealed:"

// returnToKey derives the key that seals a flow's return_to from its state.
// The database holds only the state's hash, so a copy of it cannot open
// return_to: the hosted page's return_to holds a live connect-link token.
func (s *Service) returnToKey(state string) (cipher.AEAD, error) {
	block, err := aes.NewCipher(s.Keys.MAC("oauth-return-to", []byte(state)))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(block)
}

// sealReturnTo returns returnTo sealed for storage ("" stays "").
func (s *Service) sealReturnTo(state, returnTo string) (string, error) {
	if returnTo == "" {
		return "", nil
	}
	aead, err := s.returnToKey(state)
	if err != nil {
		return "", fmt.Errorf("seal return_to: %w", err)
	}
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(aead.Seal(nil, nil, []byte(returnTo), nil)), nil
}

// openReturnTo reverses sealReturnTo.
func (s *Service) openReturnTo(state, stored string) (string, error) {
	b64, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		return stored, nil
	}
	sealed, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return "", fmt.Errorf("open return_to: %w", err)
	}
	aead, err := s.returnToKey(state)
	if err != nil {
		return "", fmt.Errorf("open return_to: %w", err)
	}
	plain, err := aead.Open(nil, nil, sealed, nil)
	if err != nil {
		return "", fmt.Errorf("open return_to: %w", err)
	}
	return string(plain), nil
}
