package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLoadRecordsSkipsBadOnes(t *testing.T) {
	dir := t.TempDir()
	good := &container{id: "good", dir: filepath.Join(dir, "good"), rec: record{Phase: phaseCreated, Spec: ContainerSpec{PodID: "p", Name: "n"}}}
	_ = os.MkdirAll(good.dir, 0o700)
	if err := good.save(); err != nil {
		t.Fatal(err)
	}
	_ = os.MkdirAll(filepath.Join(dir, "bad"), 0o700)
	_ = os.WriteFile(filepath.Join(dir, "bad", "record.json"), []byte("{not json"), 0o600)
	_ = os.MkdirAll(filepath.Join(dir, "empty"), 0o700) // crashed before its first record
	recs, bad, err := loadRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs["good"].rec.Spec.Name != "n" || recs["empty"].rec.Phase != phaseCreating || bad["bad"] == nil {
		t.Fatalf("recs %v bad %v", recs, bad)
	}
}
