package runtime

import "testing"

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"relative cgroup": func(c *Config) { c.CgroupParent = "crishim" },
		"unclean cgroup":  func(c *Config) { c.CgroupParent = "/a/../b" },
		"no handler":      func(c *Config) { c.DefaultRuntimeHandler = "" },
		"tiny line":       func(c *Config) { c.LogLineMaxBytes = 10 },
		"tiny exec cap":   func(c *Config) { c.ExecOutputLimit = 1 },
		"gogc zero":       func(c *Config) { c.MonitorGOGC = 0 },
	} {
		c := DefaultConfig()
		mut(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
