namespace OpenHgs.Protocol.KeyProtection;

/// <summary>The graph rules of a key protector's wrappings, shared by parsing, verification and revocation.</summary>
internal static class KeyProtectorStructure
{
    /// <summary>
    /// Checks unique ids and encryption certificates, a single owner, present parents without cycles, and that
    /// <paramref name="signerId"/> names a wrapping. Returns the owner.
    /// </summary>
    public static KeyProtectorWrapping Check(IReadOnlyList<KeyProtectorWrapping> wrappings, string? signerId)
    {
        var byId = new Dictionary<string, KeyProtectorWrapping>(StringComparer.Ordinal);
        var certificates = new HashSet<string>(StringComparer.Ordinal);
        foreach (var wrapping in wrappings)
        {
            if (!byId.TryAdd(wrapping.Id, wrapping))
            {
                throw new KeyProtectorException(KeyProtectorError.DuplicateWrapping, $"Two wrappings have the id '{wrapping.Id}'.");
            }

            if (!certificates.Add(Convert.ToHexString(wrapping.EncryptionCertificate)))
            {
                throw new KeyProtectorException(KeyProtectorError.DuplicateWrapping, $"Wrapping '{wrapping.Id}' repeats another wrapping's encryption certificate.");
            }
        }

        var owners = wrappings.Where(w => w.ParentId is null).ToList();
        if (owners.Count != 1)
        {
            throw new KeyProtectorException(KeyProtectorError.NoOwner, $"A key protector has exactly one owner wrapping (parentId null); this one has {owners.Count}.");
        }

        foreach (var wrapping in wrappings)
        {
            // Walk up; with N wrappings any chain reaching the owner does so in fewer than N steps.
            var current = wrapping;
            for (int steps = 0; current.ParentId is { } parentId; steps++)
            {
                if (steps >= wrappings.Count || !byId.TryGetValue(parentId, out var parent))
                {
                    throw new KeyProtectorException(KeyProtectorError.EndorsementInvalid, $"Wrapping '{wrapping.Id}' does not chain to the owner (missing parent or cycle at '{parentId}').");
                }

                current = parent;
            }
        }

        if (signerId is null || !byId.ContainsKey(signerId))
        {
            throw new KeyProtectorException(KeyProtectorError.GuardianSignerUnknown, $"The guardian signature names wrapping '{signerId}', which this key protector does not have.");
        }

        return owners[0];
    }

    /// <summary>The ids of <paramref name="roots"/> and every wrapping descended from them.</summary>
    public static HashSet<string> WithDescendants(IReadOnlyList<KeyProtectorWrapping> wrappings, IEnumerable<string> roots)
    {
        var removed = new HashSet<string>(roots, StringComparer.Ordinal);
        bool grew = true;
        while (grew)
        {
            grew = false;
            foreach (var wrapping in wrappings)
            {
                if (wrapping.ParentId is { } parentId && removed.Contains(parentId) && removed.Add(wrapping.Id))
                {
                    grew = true;
                }
            }
        }

        return removed;
    }
}
