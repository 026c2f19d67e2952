using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using OpenHgs.Service;

namespace OpenHgs.Server.Endpoints;

/// <summary>Reads JSON bodies with our own errors: malformed, wrong type or unknown members name the JSON path; an oversized body is RequestTooLarge.</summary>
internal static class RequestReader
{
    public static async Task<T> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> typeInfo)
    {
        if (context.Request.ContentType is not { } contentType || !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            throw new ServiceException(ProblemKind.BadRequest, "UnsupportedMediaType", "Send the request body as application/json.");
        }

        try
        {
            return await JsonSerializer.DeserializeAsync(context.Request.Body, typeInfo, context.RequestAborted).ConfigureAwait(false)
                ?? throw ServiceException.BadRequest("RequestMalformed", "The request body is JSON null.");
        }
        catch (JsonException ex)
        {
            throw ServiceException.BadRequest("RequestMalformed", $"The request body is not the expected JSON (at {ex.Path ?? "$"}): {FirstLine(ex.Message)}");
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            // Kestrel enforces the body limit while we read; as our own refusal, callers that audit bad input see it too.
            throw new ServiceException(ProblemKind.PayloadTooLarge, "RequestTooLarge", "The request body is larger than the service accepts.");
        }
    }

    private static string FirstLine(string message)
    {
        int end = message.IndexOfAny(['\r', '\n', '.']);
        return end > 0 ? message[..end] : message;
    }
}
