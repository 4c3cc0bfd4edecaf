package csaf

// The part of an OASIS CSAF 2.0 document the parser reads
// (https://docs.oasis-open.org/csaf/csaf/v2.0/csaf-v2.0.html).

type document struct {
	Document        docMeta         `json:"document"`
	ProductTree     productTree     `json:"product_tree"`
	Vulnerabilities []vulnerability `json:"vulnerabilities"`
}

type docMeta struct {
	Category          string `json:"category"`
	Title             string `json:"title"`
	AggregateSeverity struct {
		Text string `json:"text"`
	} `json:"aggregate_severity"`
	Tracking struct {
		ID                 string `json:"id"`
		InitialReleaseDate string `json:"initial_release_date"`
		CurrentReleaseDate string `json:"current_release_date"`
	} `json:"tracking"`
	References []reference `json:"references"`
	Notes      []note      `json:"notes"`
}

type reference struct {
	Category string `json:"category"`
	Summary  string `json:"summary"`
	URL      string `json:"url"`
}

type note struct {
	Category string `json:"category"`
	Title    string `json:"title"`
	Text     string `json:"text"`
}

type productTree struct {
	Branches         []branch       `json:"branches"`
	FullProductNames []product      `json:"full_product_names"`
	Relationships    []relationship `json:"relationships"`
}

type branch struct {
	Category string   `json:"category"`
	Name     string   `json:"name"`
	Product  *product `json:"product"`
	Branches []branch `json:"branches"`
}

type product struct {
	Name      string `json:"name"`
	ProductID string `json:"product_id"`
	Helper    struct {
		CPE  string `json:"cpe"`
		PURL string `json:"purl"`
	} `json:"product_identification_helper"`
}

type relationship struct {
	Category         string  `json:"category"`
	FullProductName  product `json:"full_product_name"`
	ProductReference string  `json:"product_reference"`
	RelatesTo        string  `json:"relates_to_product_reference"`
}

type vulnerability struct {
	CVE           string              `json:"cve"`
	Title         string              `json:"title"`
	Notes         []note              `json:"notes"`
	ProductStatus map[string][]string `json:"product_status"`
	Flags         []struct {
		Label      string   `json:"label"`
		ProductIDs []string `json:"product_ids"`
	} `json:"flags"`
	Threats []struct {
		Category   string   `json:"category"`
		Details    string   `json:"details"`
		ProductIDs []string `json:"product_ids"`
	} `json:"threats"`
	Scores []struct {
		CVSSv3 *struct {
			Version      string  `json:"version"`
			VectorString string  `json:"vectorString"`
			BaseScore    float64 `json:"baseScore"`
		} `json:"cvss_v3"`
		Products []string `json:"products"`
	} `json:"scores"`
	Remediations []struct {
		Category   string   `json:"category"`
		Details    string   `json:"details"`
		URL        string   `json:"url"`
		ProductIDs []string `json:"product_ids"`
	} `json:"remediations"`
	ReleaseDate string `json:"release_date"`
}
