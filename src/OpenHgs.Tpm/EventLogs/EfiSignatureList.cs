namespace OpenHgs.Tpm.EventLogs;

/// <summary>One EFI_SIGNATURE_DATA entry of an EFI_SIGNATURE_LIST (a certificate or a hash in db/dbx/KEK/PK).</summary>
/// <param name="SignatureType">EFI_CERT_X509_GUID, EFI_CERT_SHA256_GUID, …</param>
/// <param name="Owner">SignatureOwner GUID.</param>
/// <param name="Data">The certificate (DER) or hash.</param>
public sealed record EfiSignature(Guid SignatureType, Guid Owner, byte[] Data)
{
    /// <summary>EFI_CERT_X509_GUID.</summary>
    public static readonly Guid X509 = new("a5c059a1-94e4-4aa7-87b5-ab155c2bf072");

    /// <summary>EFI_CERT_SHA256_GUID.</summary>
    public static readonly Guid Sha256 = new("c1c41626-504c-4092-aca9-41f936934328");
}

/// <summary>Parses the content of signature-database variables (PK, KEK, db, dbx): a sequence of EFI_SIGNATURE_LISTs.</summary>
public static class EfiSignatureList
{
    /// <summary>Most entries accepted from one variable.</summary>
    public const int MaxEntries = 100_000;

    /// <summary>
    /// Parses every signature in <paramref name="variableData"/>; returns false (and an empty list) when the
    /// data is not a well-formed sequence of EFI_SIGNATURE_LISTs. Never throws.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> variableData, out IReadOnlyList<EfiSignature> signatures)
    {
        var result = new List<EfiSignature>();
        signatures = [];
        try
        {
            var cursor = new DataCursor(variableData);
            while (cursor.Remaining > 0)
            {
                var type = cursor.Guid();
                var listSize = cursor.U32();
                var headerSize = cursor.U32();
                var signatureSize = cursor.U32();
                const uint fixedHeader = 28;
                if (listSize < fixedHeader + headerSize || signatureSize < 16 || listSize - fixedHeader > cursor.Remaining)
                {
                    return false;
                }
                var body = listSize - fixedHeader - headerSize;
                if (body % signatureSize != 0)
                {
                    return false;
                }
                cursor.Take(headerSize);
                for (var i = 0u; i < body / signatureSize; i++)
                {
                    if (result.Count >= MaxEntries)
                    {
                        return false;
                    }
                    var entry = new DataCursor(cursor.Take(signatureSize));
                    result.Add(new EfiSignature(type, entry.Guid(), entry.Take(signatureSize - 16).ToArray()));
                }
            }
        }
        catch (MalformedEventDataException)
        {
            return false;
        }
        signatures = result;
        return true;
    }
}
