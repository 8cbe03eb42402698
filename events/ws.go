package events

// WSInfo is the data of the "info" frame the /ws endpoint sends when a
// connection is accepted: who the server took the client for, and the
// contract version it speaks (ContractVersion).
type WSInfo struct {
	UserID   string `json:"userId"`
	Name     string `json:"name"`
	Protocol int    `json:"protocol"`
}
