package gateway_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelperGateway()) // the test binary re-run as a gateway process
	}
	goleak.VerifyTestMain(m)
}
