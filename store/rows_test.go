package store

import (
	"errors"
	"testing"
)

// fakeRows yields ints, then err from Err.
type fakeRows struct {
	vals []int
	i    int
	err  error
}

func (r *fakeRows) Next() bool { r.i++; return r.i <= len(r.vals) }
func (r *fakeRows) Err() error { return r.err }
func (r *fakeRows) Scan(dest ...any) error {
	*dest[0].(*int) = r.vals[r.i-1]
	return nil
}

func TestCollectRows(t *testing.T) {
	scan := func(row Row) (*int, error) {
		var v int
		if err := row.Scan(&v); err != nil {
			return nil, err
		}
		if v < 0 {
			return nil, errors.New("negative")
		}
		return &v, nil
	}
	errRows := errors.New("connection lost")
	for _, tc := range []struct {
		name string
		rows *fakeRows
		want []int
		err  error
	}{
		{name: "empty", rows: &fakeRows{}},
		{name: "all", rows: &fakeRows{vals: []int{3, 1, 2}}, want: []int{3, 1, 2}},
		{name: "scan error", rows: &fakeRows{vals: []int{1, -1, 2}}, err: errors.New("negative")},
		{name: "rows error", rows: &fakeRows{vals: []int{1}, err: errRows}, err: errRows},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CollectRows(tc.rows, scan)
			if (err == nil) != (tc.err == nil) || (err != nil && err.Error() != tc.err.Error()) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}
