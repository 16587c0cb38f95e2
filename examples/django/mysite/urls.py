"""POST /orders/<n>?receipt=PATH dispatches the receipt job."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from mysite.jobs import write_receipt


async def order(request: HttpRequest, number: int) -> JsonResponse:
    job_id = await write_receipt.enqueue(number, request.GET["receipt"])
    return JsonResponse({"job_id": job_id}, status=202)


urlpatterns = [path("orders/<int:number>", order)]
