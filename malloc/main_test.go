package malloc_test

import (
	"testing"

	"github.com/vmkit/vmkit/internal/testchild"
)

func TestMain(m *testing.M) { testchild.Main(m) }
