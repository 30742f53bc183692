package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRunRefusesBadInput(t *testing.T) {
	assert.Equal(t, 2, run([]string{"-no-such-flag"}), "bad flags")

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	assert.NoError(t, os.WriteFile(bad, []byte("endpoints:\n  x: {provider: openai, endpoint: chat, api_key: k, timeout: -1s}\n"), 0o600))
	assert.Equal(t, 1, run([]string{"-config", bad}), "an invalid config file")

	unknown := filepath.Join(t.TempDir(), "unknown.yaml")
	assert.NoError(t, os.WriteFile(unknown, []byte("gateway:\n  lisen: 127.0.0.1:1\n"), 0o600))
	assert.Equal(t, 1, run([]string{"-config", unknown}), "an unknown field")

	assert.Equal(t, 1, run([]string{"-config", filepath.Join(t.TempDir(), "missing.yaml")}), "a missing file")

	keyless := filepath.Join(t.TempDir(), "keyless.yaml")
	assert.NoError(t, os.WriteFile(keyless, []byte("gateway:\n  listen: 0.0.0.0:0\n"), 0o600))
	assert.Equal(t, 1, run([]string{"-config", keyless}), "no client keys on a public address")
}
