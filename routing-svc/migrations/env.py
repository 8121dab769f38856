from routing.models import Base
from routing.settings import Settings

from services import migrations

migrations.run(Base.metadata, Settings().database_url)
