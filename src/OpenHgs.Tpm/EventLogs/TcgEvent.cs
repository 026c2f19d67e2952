namespace OpenHgs.Tpm.EventLogs;

/// <summary>
/// One measured (or informational) event of a TCG event log.
/// </summary>
/// <param name="Index">Zero-based position in the log (the Spec ID header event of a crypto-agile log is index 0).</param>
/// <param name="Pcr">PCR index the event was extended into (0..<see cref="EventLogParser.MaxPcrIndex"/>), or
/// <see cref="NoPcr"/> for an EV_NO_ACTION event that belongs to no PCR (Windows logs).</param>
/// <param name="Type">Event type.</param>
/// <param name="Digests">Digest per bank. A legacy log has only SHA-1; a crypto-agile log has every Spec ID bank.</param>
/// <param name="Data">Raw event data (the bytes the firmware logged; not necessarily what was hashed).</param>
/// <param name="Details">Decoded event data when the type is understood and the data is well formed; otherwise null.</param>
public sealed record TcgEvent(
    int Index,
    int Pcr,
    TcgEventType Type,
    IReadOnlyDictionary<TpmAlgorithm, byte[]> Digests,
    byte[] Data,
    EventDetails? Details)
{
    /// <summary>
    /// The <see cref="Pcr"/> of an EV_NO_ACTION event logged with PCR index 0xFFFFFFFF (Windows measured-boot logs: AIK
    /// and trust-point tags). Only EV_NO_ACTION may carry it, so such an event is never extended nor replayed.
    /// </summary>
    public const int NoPcr = -1;

    /// <summary>Byte offset of the event's header in the log.</summary>
    public int Offset { get; init; }

    /// <summary>Total encoded size of the event in bytes (header, digests and data).</summary>
    public int Size { get; init; }

    /// <summary>True for events that are extended into their PCR (everything except EV_NO_ACTION).</summary>
    public bool IsExtended => Type != TcgEventType.NoAction;

    /// <summary>
    /// True when the event's digest in <paramref name="bank"/> equals H(<see cref="Data"/>); false when it
    /// differs, the bank is absent or cannot be computed. Only for event types whose digest covers exactly
    /// the logged data (EV_SEPARATOR, EV_EFI_VARIABLE_DRIVER_CONFIG, EV_EFI_ACTION, …) does this prove the data
    /// is what was measured; policies that read event data must check it.
    /// </summary>
    public bool DigestMatchesData(TpmAlgorithm bank) =>
        Digests.TryGetValue(bank, out var digest) && bank.CanHash() && bank.Hash(Data).AsSpan().SequenceEqual(digest);
}
