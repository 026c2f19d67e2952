using System.Buffers.Binary;
using OpenHgs.Tpm.Marshalling;
using OpenHgs.Tpm.Transport;

namespace OpenHgs.Tpm.Commands;

/// <summary>
/// A synchronous TPM 2.0 command client over an <see cref="ITpmTransport"/>. Commands are serialised (one at a
/// time). Transient objects and sessions are returned as <see cref="TpmObject"/>/<see cref="TpmSession"/>, which
/// flush on dispose — required on a raw swtpm socket, which has no resource manager.
/// Failures: <see cref="TpmException"/> (TPM response code), <see cref="TpmTransportException"/> (channel),
/// <see cref="TpmFormatException"/> (malformed response).
/// </summary>
public sealed partial class TpmClient : IDisposable
{
    private readonly ITpmTransport _transport;
    private readonly bool _ownsTransport;
    private const int MaxRetries = 20;
    private const int RetryDelayMs = 10;
    private const uint RcRetry = 0x922;
    private const uint RcYielded = 0x908;
    private const uint RcTesting = 0x90A;
    private readonly Lock _gate = new();

    /// <summary>Wraps a transport; when <paramref name="ownsTransport"/> the client disposes it.</summary>
    public TpmClient(ITpmTransport transport, bool ownsTransport = true)
    {
        ArgumentNullException.ThrowIfNull(transport);
        _transport = transport;
        _ownsTransport = ownsTransport;
    }

    /// <summary>Opens a client from a specification (see <see cref="TpmTransports.Open"/>).</summary>
    public static TpmClient Open(string specification) => new(TpmTransports.Open(specification));

    /// <summary>TPM2_Startup(CLEAR or STATE); a TPM that is already started (TPM_RC_INITIALIZE) is not an error.</summary>
    public void Startup(bool clear = true)
    {
        try
        {
            Execute(TpmCommandCode.Startup, [], [], w => w.WriteUInt16(clear ? (ushort)0x0000 : (ushort)0x0001));
        }
        catch (TpmException e) when (e.Code == TpmRc.Initialize)
        {
        }
    }

    /// <summary>TPM2_GetRandom; returns up to <paramref name="count"/> bytes (the TPM may return fewer).</summary>
    public byte[] GetRandom(ushort count)
    {
        var r = Execute(TpmCommandCode.GetRandom, [], [], w => w.WriteUInt16(count));
        var bytes = r.ReadSized("randomBytes", 1024);
        r.EnsureEnd("GetRandom response");
        return bytes;
    }

    /// <summary>TPM2_FlushContext.</summary>
    public void FlushContext(uint handle) => Execute(TpmCommandCode.FlushContext, [], [], w => w.WriteUInt32(handle));

    /// <summary>
    /// Handles currently present in a range (TPM2_GetCapability(TPM_CAP_HANDLES)): 0x80000000 for transient objects,
    /// 0x02000000 for loaded sessions (HMAC and policy), 0x03000000 for saved sessions, 0x81000000 for persistent objects.
    /// </summary>
    public IReadOnlyList<uint> GetHandles(uint firstHandle)
    {
        const int maxPerCall = 64;
        var result = new List<uint>();
        var next = firstHandle;
        for (var round = 0; round < 64; round++)
        {
            var r = Execute(TpmCommandCode.GetCapability, [], [], w => w.WriteUInt32(1).WriteUInt32(next).WriteUInt32(maxPerCall));
            var more = r.ReadByte("moreData") != 0;
            r.ReadUInt32("capability");
            var count = r.ReadCount("handle count", 256);
            uint last = 0;
            for (var i = 0; i < count; i++)
            {
                last = r.ReadUInt32("handle");
                if (!SameHandleFamily(last, firstHandle))
                {
                    return result;
                }
                result.Add(last);
            }
            if (!more || count == 0)
            {
                break;
            }
            next = last + 1;
        }
        return result;
    }

    // Loaded sessions are listed under TPM_HT_LOADED_SESSION (0x02) whatever their type (HMAC 0x02 or policy 0x03).
    private static bool SameHandleFamily(uint a, uint b) =>
        a >> 24 == b >> 24 || ((a >> 24) is 0x02 or 0x03 && (b >> 24) is 0x02 or 0x03);

    /// <summary>Flushes, ignoring TPM errors (used by dispose paths).</summary>
    internal void TryFlush(uint handle)
    {
        try
        {
            FlushContext(handle);
        }
        catch (TpmException)
        {
        }
    }

    /// <summary>
    /// Runs one command. <paramref name="handles"/> go in the handle area; <paramref name="auths"/> (one per
    /// authorised handle, in order) in the authorisation area. Returns a reader positioned at the response
    /// parameters (after <paramref name="responseHandles"/> handles, which are returned via <paramref name="outHandles"/>).
    /// </summary>
    internal TpmReader Execute(TpmCommandCode code, uint[] handles, TpmAuthorization[] auths, Action<TpmWriter>? parameters,
        int responseHandles, out uint[] outHandles)
    {
        var body = new TpmWriter();
        foreach (var h in handles)
        {
            body.WriteUInt32(h);
        }
        if (auths.Length > 0)
        {
            var authArea = new TpmWriter();
            foreach (var a in auths)
            {
                a.WriteTo(authArea);
            }
            var bytes = authArea.ToArray();
            body.WriteUInt32((uint)bytes.Length).Write(bytes);
        }
        parameters?.Invoke(body);
        var payload = body.ToArray();
        var command = new byte[10 + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(command, auths.Length > 0 ? TpmHandles.TagSessions : TpmHandles.TagNoSessions);
        BinaryPrimitives.WriteUInt32BigEndian(command.AsSpan(2), (uint)command.Length);
        BinaryPrimitives.WriteUInt32BigEndian(command.AsSpan(6), (uint)code);
        payload.CopyTo(command, 10);

        // TPM_RC_RETRY / YIELDED / TESTING are transient warnings: resend, a bounded number of times.
        for (var attempt = 0; ; attempt++)
        {
            byte[] response;
            lock (_gate)
            {
                response = _transport.Execute(command);
            }
            try
            {
                return ParseResponse(code, response, auths.Length, responseHandles, out outHandles);
            }
            catch (TpmException e) when (attempt < MaxRetries && e.ResponseCode is RcRetry or RcYielded or RcTesting)
            {
                Thread.Sleep(RetryDelayMs * (attempt + 1));
            }
        }
    }

    internal TpmReader Execute(TpmCommandCode code, uint[] handles, TpmAuthorization[] auths, Action<TpmWriter>? parameters) =>
        Execute(code, handles, auths, parameters, 0, out _);

    private static TpmReader ParseResponse(TpmCommandCode code, byte[] response, int sessions, int responseHandles, out uint[] outHandles)
    {
        var r = new TpmReader(response);
        var tag = r.ReadUInt16("response tag");
        var size = r.ReadUInt32("response size");
        var rc = r.ReadUInt32("response code");
        if (size != response.Length)
        {
            throw new TpmFormatException(TpmFormatError.SizeMismatch, 2, $"response declares {size} bytes, got {response.Length}");
        }
        if (rc != 0)
        {
            throw new TpmException(code, rc);
        }
        outHandles = new uint[responseHandles];
        for (var i = 0; i < responseHandles; i++)
        {
            outHandles[i] = r.ReadUInt32("response handle");
        }
        if (tag == TpmHandles.TagNoSessions)
        {
            return new TpmReader(r.ReadMemory(r.Remaining, "parameters"), r.AbsoluteOffset);
        }
        if (tag != TpmHandles.TagSessions)
        {
            throw new TpmFormatException(TpmFormatError.UnsupportedValue, 0, $"response tag 0x{tag:x4}");
        }
        var parameterSize = r.ReadUInt32("parameterSize");
        if (parameterSize > r.Remaining)
        {
            throw new TpmFormatException(TpmFormatError.SizeTooLarge, r.AbsoluteOffset - 4, $"parameterSize {parameterSize} > {r.Remaining}");
        }
        var start = r.AbsoluteOffset;
        var parameterBytes = r.ReadMemory((int)parameterSize, "parameters");
        for (var i = 0; i < sessions; i++)
        {
            r.ReadSized("nonceTPM", 64);
            r.ReadByte("sessionAttributes");
            r.ReadSized("hmac", 64);
        }
        r.EnsureEnd("response authorisation area");
        return new TpmReader(parameterBytes, start);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsTransport)
        {
            _transport.Dispose();
        }
    }
}
