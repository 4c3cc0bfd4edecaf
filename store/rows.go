package store

// Row is what a database/sql *sql.Row or *sql.Rows and a pgx.Row or
// pgx.Rows have in common: the engines' scan functions take it, so that
// one function reads a row of either kind.
type Row interface {
	Scan(dest ...any) error
}

// Rows is what database/sql's *sql.Rows and pgx.Rows have in common for
// reading a result to its end.
type Rows interface {
	Row
	Next() bool
	Err() error
}

// CollectRows reads rows to the end, each with scan, and returns what it
// read, or the first error of scan or of rows. The caller closes rows.
// Both engines use it, so that the loop over a result set is written once.
func CollectRows[T any](rows Rows, scan func(Row) (*T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ScanBytes reads a row of one column as bytes (a record's stored JSON),
// for CollectRows.
func ScanBytes(row Row) (*[]byte, error) {
	var b []byte
	if err := row.Scan(&b); err != nil {
		return nil, err
	}
	return &b, nil
}

// ScanSourceOperation reads a row of (source, operation), for
// CollectRows (CurrentOperations).
func ScanSourceOperation(row Row) (*SourceOperation, error) {
	var o SourceOperation
	if err := row.Scan(&o.Source, &o.Operation); err != nil {
		return nil, err
	}
	return &o, nil
}

// CollectPairs reads rows of two strings (key, value) to the end and
// returns the values by key, each list in the rows' order (images of
// manifests). The caller closes rows.
func CollectPairs(rows Rows) (map[string][]string, error) {
	out := map[string][]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = append(out[k], v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
