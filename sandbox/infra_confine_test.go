package sandbox

import "testing"

func TestPickInfraID(t *testing.T) {
	full := [][2]int{{0, 1 << 32}}
	for _, c := range []struct {
		uids, gids [][2]int
		want       int
	}{
		{full, full, 65535},
		{[][2]int{{0, 65536}}, [][2]int{{0, 65536}}, 65535},
		{[][2]int{{0, 100000}}, [][2]int{{0, 100000}}, 65535},
		{[][2]int{{0, 1000}}, [][2]int{{0, 500}}, 499},
		{[][2]int{{0, 1}}, [][2]int{{0, 1}}, 0},
		{[][2]int{{0, 1}, {1000, 1010}}, [][2]int{{0, 1}, {1000, 1010}}, 1009},
	} {
		if got := pickID(c.uids, c.gids); got != c.want {
			t.Errorf("pickID(%v, %v) = %d, want %d", c.uids, c.gids, got, c.want)
		}
	}
}
