using System.Collections.Concurrent;
using System.Security.Cryptography;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace OpenHgs.Crypto.Pkcs11;

/// <summary>
/// Logged-in read/write sessions to one token, each lent to one thread at a time.
/// </summary>
/// <remarks>
/// <para>A PKCS#11 session holds one active operation; two threads using the same session interleave their
/// C_*Init / C_* calls, and SoftHSM crashes the process. Every operation therefore rents a session exclusively.</para>
/// <para>Recovery: when an operation fails because the sessions are gone (handle invalid, device removed, ...) or
/// its state is stale (object handle invalid, not logged in), the pool waits until no other operation is running
/// (a reader/writer gate: operations are readers, the reset is the writer), throws every idle session away,
/// raises <see cref="Reset"/> so the store forgets cached object handles, and the operation runs once more on a
/// freshly opened, freshly logged-in session. Sessions reported gone are dropped without C_CloseSession, because
/// tokens such as SoftHSM reuse session handle numbers and closing a stale number could close a live session.</para>
/// <para>The PIN is kept as bytes for re-login and zeroed on <see cref="Dispose"/>.</para>
/// </remarks>
internal sealed class Pkcs11SessionPool : IDisposable
{
    private readonly ISlot _slot;
    private readonly byte[] _pin;
    private readonly ConcurrentStack<ISession> _idle = new();
    private readonly ReaderWriterLockSlim _gate = new(LockRecursionPolicy.NoRecursion);
    private readonly int _maxIdle;
    private int _generation;
    private bool _disposed;

    public Pkcs11SessionPool(ISlot slot, byte[] pin, int maxIdle)
    {
        ArgumentNullException.ThrowIfNull(slot);
        ArgumentNullException.ThrowIfNull(pin);
        _slot = slot;
        _pin = pin;
        _maxIdle = maxIdle;
    }

    /// <summary>Raised (under the exclusive gate, no operation running) after the pool dropped its sessions.</summary>
    public event Action? Reset;

    /// <summary>How often the pool threw its sessions away and started over; for tests and diagnostics.</summary>
    public int Generation => Volatile.Read(ref _generation);

    /// <summary>Sessions currently waiting to be rented.</summary>
    public int IdleCount => _idle.Count;

    /// <summary>
    /// Runs <paramref name="operation"/> on a session no other thread uses, recovering once from lost sessions or
    /// stale handles. A failure that persists becomes <see cref="KeyStoreUnavailableException"/>; other PKCS#11
    /// failures surface unchanged as <see cref="Pkcs11Exception"/> for the caller to translate.
    /// </summary>
    public T Execute<T>(Func<ISession, T> operation)
    {
        ArgumentNullException.ThrowIfNull(operation);
        Pkcs11Exception? failure = null;
        for (int attempt = 0; attempt < 2; attempt++)
        {
            int generation;
            _gate.EnterReadLock();
            try
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                generation = _generation;
                ISession? session = null;
                try
                {
                    session = Rent();
                    T result = operation(session);
                    Return(session);
                    return result;
                }
                catch (Pkcs11Exception ex) when (Pkcs11Failures.IsRecoverable(ex.RV))
                {
                    failure = ex;
                    Drop(session, close: Pkcs11Failures.Classify(ex.RV) == Pkcs11FailureKind.StaleState);
                }
                catch (Pkcs11Exception)
                {
                    // The token refused the request; a session may be left with an operation half-initialised, so it
                    // is not worth reusing: close it and let the next rent open a clean one.
                    Drop(session, close: true);
                    throw;
                }
                catch
                {
                    // Our own checks threw before or after the token call; the session is clean.
                    if (session is not null)
                    {
                        Return(session);
                    }

                    throw;
                }
            }
            finally
            {
                _gate.ExitReadLock();
            }

            ResetAfterFailure(generation, closeIdle: Pkcs11Failures.Classify(failure.RV) == Pkcs11FailureKind.StaleState);
        }

        throw new KeyStoreUnavailableException(
            $"The PKCS#11 token failed again after its sessions were re-opened ({failure!.RV}); failing closed.", failure);
    }

    /// <summary>Closes every idle session, waits for running operations, and zeroes the PIN.</summary>
    public void Dispose()
    {
        _gate.EnterWriteLock();
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            while (_idle.TryPop(out ISession? session))
            {
                Drop(session, close: true);
            }

            CryptographicOperations.ZeroMemory(_pin);
        }
        finally
        {
            _gate.ExitWriteLock();
        }
    }

    private ISession Rent() => _idle.TryPop(out ISession? session) ? session : OpenLoggedInSession();

    private void Return(ISession session)
    {
        if (_idle.Count < _maxIdle)
        {
            _idle.Push(session);
        }
        else
        {
            Drop(session, close: true);
        }
    }

    private ISession OpenLoggedInSession()
    {
        // Read/write, because creating and destroying token objects needs it.
        ISession session = _slot.OpenSession(SessionType.ReadWrite);
        try
        {
            // Login state belongs to the token, not the session: once any session of this process logged in,
            // new sessions start logged in. It is lost when the last session closes, hence the check per session.
            if (session.GetSessionInfo().State != CKS.CKS_RW_USER_FUNCTIONS)
            {
                Login(session);
            }

            return session;
        }
        catch
        {
            Drop(session, close: true);
            throw;
        }
    }

    private void Login(ISession session)
    {
        try
        {
            session.Login(CKU.CKU_USER, _pin);
        }
        catch (Pkcs11Exception ex) when (ex.RV == CKR.CKR_USER_ALREADY_LOGGED_IN)
        {
            // Another thread logged the token in between our state check and C_Login.
        }
        catch (Pkcs11Exception ex) when (ex.RV is CKR.CKR_PIN_INCORRECT or CKR.CKR_PIN_INVALID or CKR.CKR_PIN_LEN_RANGE
                                            or CKR.CKR_PIN_LOCKED or CKR.CKR_PIN_EXPIRED)
        {
            throw new KeyStoreConfigurationException("pin-source", $"the token refused the user PIN ({ex.RV}).");
        }
    }

    private void ResetAfterFailure(int failedGeneration, bool closeIdle)
    {
        _gate.EnterWriteLock();
        try
        {
            // Several threads may fail on the same event; the first one resets, the others just retry.
            if (_disposed || _generation != failedGeneration)
            {
                return;
            }

            _generation++;
            while (_idle.TryPop(out ISession? session))
            {
                Drop(session, closeIdle);
            }

            Reset?.Invoke();
        }
        finally
        {
            _gate.ExitWriteLock();
        }
    }

    private static void Drop(ISession? session, bool close)
    {
        // Not closing means abandoning the wrapper: its finalizer never calls C_CloseSession.
        if (session is null || !close)
        {
            return;
        }

        try
        {
            session.Dispose();
        }
        catch (Pkcs11Exception)
        {
            // The token already forgot the session; there is nothing left to release.
        }
    }
}
