package providers_test

import (
	"slices"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func sortStrings(s []string) { slices.Sort(s) }

func strconvItoa(n int64) string { return strconv.FormatInt(n, 10) }
