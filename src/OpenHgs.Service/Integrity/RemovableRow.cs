using OpenHgs.Storage;

namespace OpenHgs.Service.Integrity;

/// <summary>
/// Reading the row an admin removes. A row that fails its integrity check is never used, and removing it is the
/// remedy, so such a row must stay removable: it reads as null (there, but not to be believed; its details are not
/// audited), where any read that would use it fails. A row that is not there at all is the caller's not-found refusal.
/// </summary>
internal static class RemovableRow
{
    /// <exception cref="ServiceException">The one <paramref name="notFound"/> makes, when there is no such row.</exception>
    public static async Task<T?> FindAsync<T>(Func<Task<T?>> find, Func<ServiceException> notFound)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(find);
        ArgumentNullException.ThrowIfNull(notFound);
        try
        {
            return await find().ConfigureAwait(false) ?? throw notFound();
        }
        catch (RowIntegrityException)
        {
            return null;
        }
    }
}
